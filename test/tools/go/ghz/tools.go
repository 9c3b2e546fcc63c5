//go:build tools

// Package tools pins the gRPC load generator the bench drives the daemon with;
// it is built from this module by test/tools/build.sh ghz.
package tools

import _ "github.com/bojand/ghz/cmd/ghz"
