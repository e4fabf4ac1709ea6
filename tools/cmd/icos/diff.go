package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/imgdiff"
)

func init() {
	register(&cli.Command{
		Name:      "diff",
		Usage:     "explain how two build outputs differ (disk images, update images, partition images)",
		UsageText: "icos diff [--max-ranges N] [--tmpdir DIR] A B",
		Description: "A and B are each a raw GPT disk image, a .tar or .tar.zst holding a disk.img or an " +
			"update image (boot.img, root.img, VERSION.TXT), or a bare ext4 or vfat partition image. " +
			"Identical inputs print \"identical (sha256 HEX)\" and exit 0. Otherwise each difference is one " +
			"line (archive member, GPT field, partition, file inside the filesystem and byte ranges, or the " +
			"metadata blocks that differ and what they hold) and the exit status is 1. Errors exit 2. " +
			"Archives are unpacked into sparse temporary files under --tmpdir.",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "max-ranges", Value: 10, Usage: "print at most `N` ranges per line, then \"... and M more\""},
			&cli.StringFlag{Name: "tmpdir", Usage: "`DIR` for unpacking archives (default: $TMPDIR or /tmp)"},
		},
		Action: runDiff,
	})
}

func runDiff(c *cli.Context) error {
	if c.NArg() != 2 {
		return cli.Exit("icos: diff: want two arguments, A and B", 2)
	}
	if c.Int("max-ranges") < 1 {
		return cli.Exit("icos: diff: --max-ranges must be at least 1", 2)
	}
	res, err := imgdiff.Diff(c.Args().Get(0), c.Args().Get(1), imgdiff.Options{
		MaxRanges: c.Int("max-ranges"),
		TempDir:   c.String("tmpdir"),
	})
	if err != nil {
		return cli.Exit("icos: "+err.Error(), 2) // imgdiff's errors name the file
	}
	fmt.Fprintln(c.App.Writer, strings.Join(res.Lines, "\n"))
	if !res.Identical {
		return cli.Exit("", 1)
	}
	return nil
}
