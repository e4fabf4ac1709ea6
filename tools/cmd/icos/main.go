// Command icos builds the pieces of IC-OS disk images: deterministic tars,
// filesystems, disks and base images. Each subcommand lives in its own file
// of this package and registers itself with register; the command only
// parses flags and calls the format packages under tools/.
//
// Error messages: every error is printed once, as
//
//	icos <subcommand>: <error>
//
// e.g. "icos disk: gpt: partitions.csv:3: ...", with the names merged when
// the package has the subcommand's name ("icos lvm: line 3: ..." from
// tools/lvm, not "icos lvm: lvm: line 3: ..."). register wraps each
// subcommand's action so that the errors it returns get that prefix
// (commandError); errors raised before an action runs (unknown flags,
// missing required flags) are printed as "icos: <error>". The format
// packages prefix the errors they raise with their own name, once ("gpt: ",
// "zst: "). So a subcommand never names itself or the package it calls in
// its errors: it adds only what the package cannot know, the flag or file
// the value came from ("--size: ", "--image \"esp\": ", the input's name).
// A subcommand that needs an exit status other than 1 returns cli.Exit
// with the bare message; the prefix is added the same way.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/outfile"
)

// commands holds the subcommands registered by the files of this package.
var commands []*cli.Command

// register adds a top-level subcommand; call it from an init function. The
// errors returned by its actions (and its subcommands') are prefixed with
// "icos <subcommand>: ".
func register(c *cli.Command) {
	prefixErrors(c, "icos "+c.Name)
	commands = append(commands, c)
}

// prefixErrors wraps the action of c and those of its subcommands, c being
// the command named path, so that the errors they return are commandErrors.
func prefixErrors(c *cli.Command, path string) {
	if action := c.Action; action != nil {
		c.Action = func(ctx *cli.Context) error {
			return commandErr(path, action(ctx))
		}
	}
	for _, sub := range c.Subcommands {
		prefixErrors(sub, path+" "+sub.Name)
	}
}

// commandError is an error returned by the action of the command named
// path (e.g. "icos base check"); its message starts with that path.
type commandError struct {
	path string
	err  error
}

// Error returns "<path>: <error>". An error that starts with the name of
// the command (a package of the same name raised it: tools/lvm under
// "icos lvm") gets the path in front of it instead, so the name is not
// printed twice: "icos lvm: line 3: ...", not "icos lvm: lvm: line 3: ...".
func (e *commandError) Error() string {
	msg := e.err.Error()
	name := e.path[strings.LastIndexByte(e.path, ' ')+1:]
	if strings.HasPrefix(msg, name+": ") {
		return strings.TrimSuffix(e.path, name) + msg
	}
	return e.path + ": " + msg
}
func (e *commandError) Unwrap() error { return e.err }

// exitError is a commandError that keeps the exit status of a cli.Exit
// error, so the cli package prints it and exits with that status.
type exitError struct {
	commandError
	code int
}

func (e *exitError) ExitCode() int { return e.code }

// commandErr returns err (nil, or a cli.Exit error without a message,
// which only sets the exit status) or err as a commandError of path.
func commandErr(path string, err error) error {
	if err == nil {
		return nil
	}
	if ec, ok := err.(cli.ExitCoder); ok {
		if err.Error() == "" {
			return err
		}
		return &exitError{commandError{path, err}, ec.ExitCode()}
	}
	return &commandError{path, err}
}

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
		var ce *commandError
		if errors.As(err, &ce) {
			fmt.Fprintln(os.Stderr, err)
		} else {
			fmt.Fprintln(os.Stderr, "icos:", err)
		}
		os.Exit(1)
	}
}
