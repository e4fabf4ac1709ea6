package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/pack"
	"github.com/icos-build/icos/tools/sparse"
	"github.com/icos-build/icos/tools/zst"
)

func init() {
	register(&cli.Command{
		Name:      "pack",
		Usage:     "pack disk images into a zstd-compressed sparse tar with a .sha256 beside it",
		UsageText: "icos pack --output disk-img.tar.zst [--level N] [--name-in-tar NAME] [--mtime 0] FILE...",
		Description: "Each FILE becomes a tar entry named after its base name (or --name-in-tar), mode 0644, " +
			"owner 0:0, mtime --mtime, entries sorted by name. Runs of all-zero 4 KiB blocks are stored as " +
			"holes (PAX 1.0 GNU sparse entries, which GNU tar extracts as sparse files). The tar is " +
			"compressed with zstd as it is produced; the output is the same for any number of CPUs. " +
			"OUTPUT.sha256 holds the checksum in sha256sum format (check it with sha256sum -c). " +
			"A FILE ending in .zst is decompressed first (into a sparse temporary file beside OUTPUT) " +
			"and stored without the .zst suffix; an .img.tar.zst archive of one image (what icos lvm and icos disk " +
			"write) gives that image.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "archive `FILE` to write, e.g. disk-img.tar.zst; FILE.sha256 is written too"},
			&cli.IntFlag{Name: "level", Value: zst.ArchiveLevel, Usage: fmt.Sprintf("zstd `LEVEL` %d-%d (1-2 fastest, 3-5 default, 6-9 better, 10-22 best encoder)", zst.MinLevel, zst.MaxLevel)},
			&cli.StringFlag{Name: "name-in-tar", Usage: "entry `NAME` for the single FILE (default: its base name)"},
			&cli.Int64Flag{Name: "mtime", Value: 0, Usage: "modification time of the entries, in Unix `SECONDS`"},
		},
		Action: runPack,
	})
}

func runPack(c *cli.Context) error {
	if c.NArg() == 0 {
		return fmt.Errorf("no input files given")
	}
	if l := c.Int("level"); l < zst.MinLevel || l > zst.MaxLevel {
		return fmt.Errorf("--level %d: out of range %d..%d", l, zst.MinLevel, zst.MaxLevel)
	}
	files, cleanup, err := packInputs(c.String("output"), c.Args().Slice())
	defer cleanup()
	if err != nil {
		return err
	}
	return pack.Pack(c.String("output"), files, pack.Options{
		Level:     c.Int("level"),
		ModTime:   time.Unix(c.Int64("mtime"), 0),
		NameInTar: c.String("name-in-tar"),
	})
}

// packInputs decompresses the ".zst" inputs into a temporary directory
// beside output, keeping holes, and returns the files to pack. cleanup
// removes the temporary directory.
func packInputs(output string, args []string) (files []string, cleanup func(), err error) {
	cleanup = func() {}
	var tmp *outfile.Dir
	for _, a := range args {
		if !strings.HasSuffix(a, ".zst") {
			files = append(files, a)
			continue
		}
		if tmp == nil {
			// A temporary of output (never committed), so a killed run's is
			// removed by the next run into output.
			if tmp, err = outfile.CreateDir(output, 0o700); err != nil {
				return nil, cleanup, err
			}
			cleanup = tmp.Abort
		}
		raw := filepath.Join(tmp.Name(), sparse.ImageName(a))
		if err := decompressSparse(a, raw); err != nil {
			return nil, cleanup, err
		}
		files = append(files, raw)
	}
	return files, cleanup, nil
}

// decompressSparse writes the zstd file src, decompressed, to dest, leaving
// holes where the data has all-zero blocks.
func decompressSparse(src, dest string) error {
	img, err := sparse.OpenImage(src)
	if err != nil {
		return err
	}
	defer img.Close()
	f, err := os.Create(dest)
	if err != nil {
		return err
	}
	defer f.Close()
	n, err := sparse.CopySparse(f, 0, math.MaxInt64, img)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	if err := f.Truncate(n); err != nil {
		return err
	}
	return f.Close()
}
