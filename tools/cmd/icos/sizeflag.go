package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/size"
)

// sizeUsage describes the size grammar (package size) in flag usages.
const sizeUsage = "bytes, or a number with B, s (512-byte sectors), K, M, G, T or KiB, MiB, GiB, TiB (powers of 1024)"

// sizeFlag parses the value of the size flag name with package size; the
// error names the flag.
func sizeFlag(c *cli.Context, name string) (int64, error) {
	v, err := size.Parse(c.String(name))
	if err != nil {
		return 0, fmt.Errorf("--%s: %w", name, err)
	}
	return v, nil
}
