# Versions of the test cluster, sourced by build.sh and cluster.sh. Keep them
# in sync with the go.mod files under test/cluster/go/.
# shellcheck shell=bash
KUBE_VERSION=v1.36.1          # test/cluster/go/kube, test/cluster/go/node
KUBE_MINOR=36
METRICS_SERVER_VERSION=v0.9.0 # test/cluster/go/kwok
