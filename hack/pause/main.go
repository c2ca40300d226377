// pause: the sandbox ("pause") container of the harness's kubelet mode. It holds a
// pod's namespaces and does nothing else: it waits for SIGINT or SIGTERM and exits.
// Built into a scratch image by hack/images.sh because registry.k8s.io/pause cannot be
// pulled on machines without a registry.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	<-stop
}
