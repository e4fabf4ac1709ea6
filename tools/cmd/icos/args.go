package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"
)

// noArgs wraps the action of a command that takes no positional
// arguments. Anything left after the flags (a stray word, a flag value
// without its flag, or flags after a positional argument, which the flag
// parser stops at) is an error naming the command and the arguments,
// instead of being ignored.
func noArgs(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("%s: unexpected arguments %q", commandPath(c), c.Args().Slice())
		}
		return action(c)
	}
}

// commandPath returns the names of the command run and its parent
// commands below the app, e.g. "tar normalize".
func commandPath(c *cli.Context) string {
	var names []string
	for _, ctx := range c.Lineage() {
		if ctx.Command != nil && ctx.Command.Name != "" && ctx.Command.Name != c.App.Name {
			names = append([]string{ctx.Command.Name}, names...)
		}
	}
	return strings.Join(names, " ")
}
