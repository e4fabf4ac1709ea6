package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/tarpath"
	"github.com/icos-build/icos/tools/vfat"
)

func init() {
	register(&cli.Command{
		Name:      "vfat",
		Usage:     "write a FAT12/16/32 image with long file names from a tar or a list of files",
		ArgsUsage: " ",
		Description: "Writes a FAT volume of exactly --size bytes. The FAT type and cluster size follow " +
			"mkfs.fat's defaults unless forced. File data is streamed into the image; directories, " +
			"FATs and boot sectors are written at the end. Every timestamp is --mtime (clamped to " +
			"the DOS range 1980-01-01..2107-12-31, 2-second resolution, stored as UTC). A file " +
			"whose mode has no owner write bit gets the read-only attribute; other mode bits, owners " +
			"and tar times are ignored. Symlinks and device nodes are errors; hard links become copies.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "image file to write"},
			&cli.StringFlag{Name: "size", Required: true, Usage: "exact image `SIZE`, a multiple of 512: " + sizeUsage},
			&cli.IntFlag{Name: "fat", Usage: "force the FAT type: 12, 16 or 32 (default: by size, like mkfs.fat: FAT32 from 512 MiB)"},
			&cli.StringFlag{Name: "cluster-size", Usage: "force the cluster `SIZE` (power of two, 512..64K, e.g. 4096 or 4K); the default follows mkfs.fat"},
			&cli.StringFlag{Name: "label", Usage: "volume label, up to 11 upper-case characters (boot sector and root directory entry)"},
			&cli.StringFlag{Name: "serial", Value: "0", Usage: "volume serial number (volume ID), decimal or 0x hex"},
			&cli.Int64Flag{Name: "mtime", Usage: "every timestamp, in Unix seconds (before 1980 clamps to 1980-01-01 00:00:00)"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "tar stream with the content (\"-\" for stdin)"},
			&cli.StringSliceFlag{Name: "file", Usage: "SRC:DST[:MODE] host file SRC stored at DST (MODE is octal; no owner write bit = read-only); repeatable"},
		},
		Action: noArgs(vfatAction),
	})
}

func vfatAction(c *cli.Context) error {
	size, err := sizeFlag(c, "size")
	if err != nil {
		return err
	}
	var cluster int64
	if c.String("cluster-size") != "" {
		if cluster, err = sizeFlag(c, "cluster-size"); err != nil {
			return err
		}
	}
	serial, err := strconv.ParseUint(c.String("serial"), 0, 32)
	if err != nil {
		return fmt.Errorf("--serial %q: %w", c.String("serial"), err)
	}
	input, files := c.String("input"), c.StringSlice("file")
	if input != "" && len(files) > 0 {
		return fmt.Errorf("give either --input or --file, not both (neither makes an empty filesystem)")
	}
	opts := vfat.Options{
		Size:        size,
		Type:        vfat.Type(c.Int("fat")),
		ClusterSize: cluster,
		Label:       c.String("label"),
		Serial:      uint32(serial),
		ModTime:     c.Int64("mtime"),
	}
	out, err := createImage(c.String("output"), "")
	if err != nil {
		return err
	}
	defer out.Abort()
	w, err := vfat.NewWriter(out, opts)
	if err != nil {
		return err
	}
	if input != "" {
		r, closeIn, err := openTar(input)
		if err != nil {
			return err
		}
		defer closeIn()
		if err := vfat.AddTar(w, r); err != nil {
			return emptyTarError(input, fmt.Errorf("%s: %w", input, err))
		}
	}
	for _, spec := range files {
		if err := vfatAddFile(w, spec); err != nil {
			return err
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	return out.Commit()
}

// vfatAddFile adds one --file SRC:DST[:MODE].
func vfatAddFile(w *vfat.Writer, spec string) error {
	parts := strings.Split(spec, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return fmt.Errorf("--file %q: want SRC:DST[:MODE]", spec)
	}
	dst, err := tarpath.Clean(strings.TrimLeft(parts[1], "/"))
	if err != nil {
		return fmt.Errorf("--file %q: %w", spec, err)
	}
	readOnly := false
	if len(parts) == 3 {
		mode, err := strconv.ParseUint(parts[2], 8, 32)
		if err != nil || mode > 0o7777 {
			return fmt.Errorf("--file %q: mode %q is not an octal file mode", spec, parts[2])
		}
		readOnly = mode&0o200 == 0
	}
	f, err := os.Open(parts[0])
	if err != nil {
		return fmt.Errorf("--file %q: %w", spec, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("--file %q: %w", spec, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("--file %q: %s is not a regular file", spec, parts[0])
	}
	return w.Create(dst, st.Size(), f, readOnly)
}
