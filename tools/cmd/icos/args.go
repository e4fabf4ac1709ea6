package main

import (
	"encoding/hex"
	"fmt"
	"strings"

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

// parseUUID parses a UUID in its 8-4-4-4-12 hex form (--uuid of icos ext4
// and icos verity).
func parseUUID(s string) ([16]byte, error) {
	var u [16]byte
	h := strings.ReplaceAll(s, "-", "")
	if len(s) != 36 || len(h) != 32 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q: want a UUID like 01234567-89ab-cdef-0123-456789abcdef", s)
	}
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return u, fmt.Errorf("%q: %w", s, err)
	}
	return u, nil
}
