package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/gpt"
)

func init() {
	register(&cli.Command{
		Name:      "disk",
		Usage:     "assemble a GPT disk image from partitions.csv and partition images",
		UsageText: "icos disk --partitions partitions.csv --output disk.img [--size 50G] [--disk-guid GUID] [--image NAME=FILE ...]",
		Description: "Writes a protective MBR, primary and backup GPT for a disk of --size bytes, then copies " +
			"each partition image (raw, or zstd-compressed when named *.zst) into its partition, leaving holes " +
			"where the image has all-zero 4 KiB blocks. Partitions without an image stay empty. The format " +
			"of partitions.csv is documented in package tools/gpt.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "partitions", Required: true, Usage: "partition table `FILE` (name,start,size,type,uuid[,comment] rows)"},
			&cli.StringFlag{Name: "output", Required: true, Usage: "disk image `FILE` to write; a name ending in .tar.zst packs it as disk.img in a sparse tar (+ .sha256), .zst compresses it"},
			&cli.StringFlag{Name: "size", Usage: "final disk `SIZE`: " + sizeUsage + ", e.g. 50G; default: the last partition's end plus 1 MiB"},
			&cli.StringFlag{Name: "disk-guid", Usage: "disk `GUID`; default: derived from the table content (never random)"},
			&cli.StringSliceFlag{Name: "image", Usage: "partition image `NAME=FILE` (FILE may end in .zst); repeatable"},
		},
		Action: noArgs(runDisk),
	})
}

func runDisk(c *cli.Context) error {
	var size int64
	if c.String("size") != "" {
		v, err := sizeFlag(c, "size")
		if err != nil {
			return err
		}
		size = v
	}
	images, err := diskParseImages(c.StringSlice("image"))
	if err != nil {
		return err
	}
	in, err := os.Open(c.String("partitions"))
	if err != nil {
		return fmt.Errorf("--partitions: %w", err)
	}
	spec, err := gpt.Parse(in, c.String("partitions"))
	in.Close()
	if err != nil {
		return err
	}
	table, err := gpt.Layout(spec, size, c.String("disk-guid"))
	if err != nil {
		return err
	}
	out, err := createImage(c.String("output"), "disk.img")
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := gpt.Assemble(out.File.File, table, images); err != nil {
		return err
	}
	return out.Commit()
}

// diskParseImages turns repeated NAME=FILE flags into a map, rejecting
// malformed and repeated names.
func diskParseImages(flags []string) (map[string]string, error) {
	images := map[string]string{}
	for _, f := range flags {
		name, path, ok := strings.Cut(f, "=")
		if !ok || name == "" || path == "" {
			return nil, fmt.Errorf("--image %q: want NAME=FILE", f)
		}
		if _, dup := images[name]; dup {
			return nil, fmt.Errorf("--image %q: %s given twice", f, name)
		}
		images[name] = path
	}
	return images, nil
}
