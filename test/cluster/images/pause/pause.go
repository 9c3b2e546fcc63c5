// pause holds a pod sandbox's namespaces: it sleeps until SIGINT or SIGTERM
// and, as PID 1 of a pod that shares its process namespace, reaps orphans.
// Built into the local pause image by test/cluster/images.sh (there is no
// registry to pull registry.k8s.io/pause from).
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	children := make(chan os.Signal, 16)
	signal.Notify(children, syscall.SIGCHLD)
	for {
		select {
		case <-stop:
			os.Exit(0)
		case <-children:
			for {
				var status syscall.WaitStatus
				pid, err := syscall.Wait4(-1, &status, syscall.WNOHANG, nil)
				if pid <= 0 || err != nil {
					break
				}
			}
		}
	}
}
