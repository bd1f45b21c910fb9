// Command pause is the sandbox ("pause") image of the local test cluster (hack/cluster/up):
// it holds a pod's namespaces and sleeps until it is told to stop. Static, FROM scratch, so
// nothing has to be pulled.
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	var stop = make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	<-stop
}
