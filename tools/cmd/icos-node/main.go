// Command icos-node runs on an IC-OS node, in the initramfs and later in
// the booted system: one static binary (CGO_ENABLED=0) with a subcommand
// per job, built on the standard library and golang.org/x/sys only, so
// that it can go into an initramfs with nothing else.
//
//	icos-node verity-root [flags]   set up the dm-verity root device (initramfs local-top)
//	icos-node help [SUBCOMMAND]
//
// Every failure is printed as one line "icos-node <subcommand>: <error>"
// on standard error, and the exit status is 1 (2 for a usage error).
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is a subcommand: run gets the arguments after its name and
// returns the exit status.
type command struct {
	usage string // one line
	run   func(name string, args []string, stdout, stderr io.Writer) int
}

// commands holds the subcommands, registered by the files of this package.
var commands = map[string]command{}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the subcommand named by args[0] and returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" {
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(args[1], []string{"-h"}, stdout, stdout)
			}
		}
		usage(stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "icos-node: unknown subcommand %q\n", name)
		usage(stderr)
		return 2
	}
	return c.run(name, args[1:], stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: icos-node SUBCOMMAND [flags]\n\nsubcommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].usage)
	}
	fmt.Fprintln(w, "\n'icos-node help SUBCOMMAND' shows its flags.")
}

// flagSet is the flag set of a subcommand and its usage text.
type flagSet struct {
	*flag.FlagSet
	name, usage string
	stderr      io.Writer
}

// newFlagSet returns the flag set of subcommand name. Its usage (after
// -h) goes to stderr; parse errors are printed by parse.
func newFlagSet(name, usage string, stderr io.Writer) *flagSet {
	fs := flag.NewFlagSet("icos-node "+name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {} // parse prints the usage after -h only
	return &flagSet{fs, name, usage, stderr}
}

// parse parses args and returns the exit status to use when the command
// should not go on (ok false): 0 after -h, which prints the usage, 2 on a
// usage error, printed as one line "icos-node NAME: ...".
func (fs *flagSet) parse(args []string) (status int, ok bool) {
	err := fs.Parse(args)
	switch {
	case err == flag.ErrHelp:
		fmt.Fprintf(fs.stderr, "usage: icos-node %s [flags]\n\n%s\n\nflags:\n", fs.name, fs.usage)
		fs.SetOutput(fs.stderr)
		fs.PrintDefaults()
		return 0, false
	case err != nil:
		fmt.Fprintf(fs.stderr, "%s: %v (see icos-node help %s)\n", fs.Name(), err, fs.name)
		return 2, false
	case fs.NArg() > 0:
		fmt.Fprintf(fs.stderr, "%s: unexpected arguments %q\n", fs.Name(), fs.Args())
		return 2, false
	}
	return 0, true
}

// fail prints err as the one line of a failed subcommand name, without
// the prefix of the package that raised it (the subcommand stands for it).
func fail(stderr io.Writer, name, pkgPrefix string, err error) int {
	msg := strings.ReplaceAll(strings.TrimPrefix(err.Error(), pkgPrefix), "\n", "; ")
	fmt.Fprintf(stderr, "icos-node %s: %s\n", name, msg)
	return 1
}
