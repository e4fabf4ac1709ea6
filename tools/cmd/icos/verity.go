package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/verity"
)

func init() {
	register(&cli.Command{
		Name:  "verity",
		Usage: "write the dm-verity hash tree of a filesystem image and its root hash",
		UsageText: "icos verity --input root.img --output root.hash --salt HEX --uuid UUID [--root-hash-file FILE]\n" +
			"   icos verity --input root.img --output A_root.img --hash-offset SIZE --salt HEX --uuid UUID [--root-hash-file FILE]",
		Description: "Computes the dm-verity hash tree that `veritysetup format` writes (format 1, sha256, 4096-byte " +
			"data and hash blocks) for the raw image --input, whose size must be a multiple of 4096 (compressed " +
			"inputs are not read: give the raw image). Without --hash-offset, --output is the hash device: the " +
			"superblock, then the tree. With --hash-offset, --output is a copy of the input (its all-zero blocks " +
			"left as holes) with the hash area at that offset, the layout of one partition holding the filesystem " +
			"and then its hash tree (`veritysetup --hash-offset`, with --data-blocks the input's size in 4 KiB " +
			"blocks); the input itself is never modified. An --output ending in .zst or .tar.zst is compressed like " +
			"the other images. The salt and the UUID are the caller's: nothing is random. The root hash, in hex, " +
			"goes to --root-hash-file, or to standard output without it. See package tools/verity.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Required: true, Usage: "raw filesystem image `FILE` (size a multiple of 4096)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "hash device `FILE`, or with --hash-offset the data and hash area"},
			&cli.StringFlag{Name: "hash-offset", Usage: "write the input then its hash area at this `SIZE` into --output: " + sizeUsage + "; a multiple of 4096, at least the input's size"},
			&cli.StringFlag{Name: "salt", Required: true, Usage: "salt in `HEX`, 1 to 256 bytes"},
			&cli.StringFlag{Name: "uuid", Usage: "superblock `UUID` (8-4-4-4-12 hex); required unless --no-superblock"},
			&cli.BoolFlag{Name: "no-superblock", Usage: "write the tree without the superblock (veritysetup --no-superblock)"},
			&cli.StringFlag{Name: "root-hash-file", Usage: "write the root hash (hex and a newline) to `FILE` instead of standard output"},
		},
		Action: noArgs(runVerity),
	})
}

func runVerity(c *cli.Context) error {
	salt, err := hex.DecodeString(c.String("salt"))
	if err != nil {
		return fmt.Errorf("--salt %q: not hexadecimal", c.String("salt"))
	}
	opts := verity.Options{Salt: salt, NoSuperblock: c.Bool("no-superblock")}
	switch s := c.String("uuid"); {
	case s == "" && !opts.NoSuperblock:
		return errors.New("give --uuid (the superblock's), or --no-superblock")
	case s != "" && opts.NoSuperblock:
		return errors.New("--uuid is stored in the superblock: not with --no-superblock")
	case s != "":
		if opts.UUID, err = parseUUID(s); err != nil {
			return fmt.Errorf("--uuid: %w", err)
		}
	}
	hashOffset := int64(-1)
	if c.IsSet("hash-offset") {
		if hashOffset, err = sizeFlag(c, "hash-offset"); err != nil {
			return err
		}
	}
	in, err := os.Open(c.String("input"))
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("--input %s: not a regular file", c.String("input"))
	}
	size := st.Size()
	hashSize, err := verity.HashSize(size, opts.NoSuperblock)
	if err != nil {
		return err
	}
	total := hashSize
	if hashOffset >= 0 {
		total = max(size, hashOffset+hashSize)
	}

	var rootOut *outfile.File
	if name := c.String("root-hash-file"); name != "" {
		if rootOut, err = outfile.Create(name, 0o644); err != nil {
			return fmt.Errorf("--root-hash-file: %w", err)
		}
		defer rootOut.Abort()
	}
	out, err := createImage(c.String("output"), "")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer out.Abort()
	// The hash area need not end on data: give the file its size first.
	if err := out.File.Truncate(total); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	var root string
	if hashOffset >= 0 {
		root, err = verity.WriteWithData(out.File, in, size, hashOffset, opts)
	} else {
		root, err = verity.Write(out.File, 0, in, size, opts)
	}
	if err != nil {
		return err
	}
	if rootOut == nil {
		if err := out.Commit(); err != nil {
			return err
		}
		_, err := fmt.Fprintln(c.App.Writer, root)
		return err
	}
	if _, err := fmt.Fprintln(rootOut, root); err != nil {
		return fmt.Errorf("--root-hash-file: %w", err)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if err := rootOut.Commit(); err != nil {
		os.Remove(c.String("output")) // one output without the other is of no use
		return fmt.Errorf("--root-hash-file: %w", err)
	}
	return nil
}
