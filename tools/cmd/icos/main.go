// Command icos builds the pieces of IC-OS disk images: deterministic tars,
// filesystems, disks and base images. Each subcommand lives in its own file
// of this package and registers itself with register; the command only
// parses flags and calls the format packages under tools/.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/outfile"
)

// commands holds the subcommands registered by the files of this package.
var commands []*cli.Command

// register adds a top-level subcommand; call it from an init function.
func register(c *cli.Command) { commands = append(commands, c) }

func newApp() *cli.App {
	cmds := append([]*cli.Command(nil), commands...)
	sort.Slice(cmds, func(i, j int) bool { return cmds[i].Name < cmds[j].Name })
	return &cli.App{
		Name:  "icos",
		Usage: "build reproducible IC-OS images without root, containers or fake time",
		Description: "Every output of icos is a function of its inputs and flags only: " +
			"no clock, host user or random value reaches it. Outputs are written to a " +
			"temporary file beside the destination and renamed into place when complete.",
		Commands:             cmds,
		EnableBashCompletion: true,
	}
}

// removeTempsOnSignal makes SIGINT, SIGTERM and SIGHUP remove the temporary
// outputs and directories the run has open (deferred Aborts do not run when
// a signal ends the process) and exit with status 128+signal number. A
// signal ignored when icos starts (nohup, or SIGINT in a background job of a
// script) stays ignored.
func removeTempsOnSignal() {
	var handled []os.Signal
	for _, s := range []os.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(s) {
			handled = append(handled, s)
		}
	}
	if len(handled) == 0 { // Notify with no signals would catch them all
		return
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, handled...)
	go func() {
		s := <-sigs
		outfile.RemoveTemps()
		fmt.Fprintf(os.Stderr, "icos: %v: temporary outputs removed\n", s)
		os.Exit(128 + int(s.(syscall.Signal)))
	}()
}

func main() {
	removeTempsOnSignal()
	if err := newApp().Run(os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "icos:", err)
		os.Exit(1)
	}
}
