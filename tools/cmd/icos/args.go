package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

// noArgs wraps the action of a command that takes no positional
// arguments. Anything left after the flags (a stray word, a flag value
// without its flag, or flags after a positional argument, which the flag
// parser stops at) is an error naming the arguments (register adds the
// command's name), instead of being ignored.
func noArgs(action cli.ActionFunc) cli.ActionFunc {
	return func(c *cli.Context) error {
		if c.NArg() > 0 {
			return fmt.Errorf("unexpected arguments %q", c.Args().Slice())
		}
		return action(c)
	}
}
