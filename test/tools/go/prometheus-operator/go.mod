// Wrapper module: pins the prometheus-operator release whose CustomResource-
// Definitions (ServiceMonitor, PrometheusRule) the chart test installs in the
// test cluster, so the chart's monitoring objects are validated against their
// real schemas. Nothing is built from it.
module k8s-provider/test/tools/go/prometheus-operator

go 1.26.0

require github.com/prometheus-operator/prometheus-operator v0.85.0 // indirect
