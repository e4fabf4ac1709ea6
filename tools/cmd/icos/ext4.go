package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/ext4"
	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/selinux"
	"github.com/icos-build/icos/tools/verity"
)

func init() {
	register(&cli.Command{
		Name:      "ext4",
		Usage:     "build an ext4 filesystem image from a tar stream",
		UsageText: "icos ext4 --input rootfs.tar|- --output root.img --size 3G [--subdir boot] [--strip run,var,boot] [--label NAME] [--uuid U] [--hash-seed U] [--mtime 0] [--inode-size 256] [--inode-ratio 16384] [--journal] [--file-contexts FILE] [--verity-salt HEX --verity-uuid U --verity-root-hash FILE]",
		Description: "Reads the tar once, as a stream, and writes an image of exactly --size bytes: file data goes " +
			"straight into the image (all-zero blocks become holes), metadata is laid out at the end. " +
			"UUID and hash seed default to values derived from --label and --size. The format is described " +
			"in package tools/ext4. With --verity-salt, the filesystem's dm-verity hash area (format 1, sha256, " +
			"4096-byte blocks, superblock first; see icos verity) follows it at offset --size, so the image is " +
			"longer than --size: `veritysetup verify IMG IMG ROOT_HASH --hash-offset SIZE` accepts it.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Required: true, Usage: "tar `FILE` to read, or - for standard input"},
			&cli.StringFlag{Name: "output", Required: true, Usage: "image `FILE` to write"},
			&cli.StringFlag{Name: "size", Required: true, Usage: "image `SIZE`: " + sizeUsage + ", e.g. 3G"},
			&cli.StringFlag{Name: "subdir", Usage: "make this `DIR` of the tar the filesystem root (e.g. boot)"},
			&cli.StringSliceFlag{Name: "strip", Usage: "drop the contents of these `DIRS` (comma-separated or repeated); the directories stay as empty mount points"},
			&cli.StringFlag{Name: "label", Usage: "volume `NAME` (at most 16 bytes)"},
			&cli.StringFlag{Name: "uuid", Usage: "filesystem `UUID`; default: derived from --label and --size"},
			&cli.StringFlag{Name: "hash-seed", Usage: "directory hash seed `UUID`; default: derived from --label and --size"},
			&cli.StringFlag{Name: "mtime", Usage: "set every timestamp (all inode times, superblock times) to this Unix `TIME` (default: the tar's times, superblock times 0)"},
			&cli.IntFlag{Name: "inode-size", Value: 256, Usage: "inode size in `BYTES`: 256, 512 or 1024"},
			&cli.IntFlag{Name: "inode-ratio", Usage: "image `BYTES` per inode (default 16384, 4096 below 512 MiB)"},
			&cli.BoolFlag{Name: "journal", Usage: "add an internal journal of mke2fs's default size (for filesystems mounted read-write)"},
			&cli.StringFlag{Name: "file-contexts", Usage: "SELinux file_contexts `FILE`: label every inode with security.selinux"},
			&cli.StringFlag{Name: "verity-salt", Usage: "append the filesystem's dm-verity hash area (superblock, then tree; as `icos verity --hash-offset` SIZE) with this salt in `HEX`"},
			&cli.StringFlag{Name: "verity-uuid", Usage: "the verity superblock's `UUID` (with --verity-salt)"},
			&cli.StringFlag{Name: "verity-root-hash", Usage: "write the verity root hash (hex and a newline) to `FILE` (with --verity-salt)"},
		},
		Action: noArgs(runExt4),
	})
}

func runExt4(c *cli.Context) error {
	size, err := sizeFlag(c, "size")
	if err != nil {
		return err
	}
	opt := ext4.Options{
		Size:       size,
		Label:      c.String("label"),
		InodeSize:  c.Int("inode-size"),
		InodeRatio: c.Int("inode-ratio"),
		Subdir:     c.String("subdir"),
		Journal:    c.Bool("journal"),
	}
	for _, s := range c.StringSlice("strip") {
		for _, p := range strings.Split(s, ",") {
			if p != "" {
				opt.Strip = append(opt.Strip, p)
			}
		}
	}
	for _, f := range []struct {
		flag string
		dst  **[16]byte
	}{{"uuid", &opt.UUID}, {"hash-seed", &opt.HashSeed}} {
		if s := c.String(f.flag); s != "" {
			u, err := parseUUID(s)
			if err != nil {
				return fmt.Errorf("--%s: %w", f.flag, err)
			}
			*f.dst = &u
		}
	}
	if s := c.String("mtime"); s != "" {
		t, err := strconv.ParseInt(s, 10, 64)
		if err != nil || t < 0 || t > 0xFFFFFFFF {
			return fmt.Errorf("--mtime %q: want a Unix time between 0 and 4294967295", s)
		}
		opt.ModTime = &t
	}
	if fc := c.String("file-contexts"); fc != "" {
		f, err := os.Open(fc)
		if err != nil {
			return fmt.Errorf("--file-contexts: %w", err)
		}
		ctxs, err := selinux.Parse(f, fc)
		f.Close()
		if err != nil {
			return fmt.Errorf("--file-contexts: %w", err)
		}
		opt.Labeler = ctxs
	}
	vopts, err := verityFlags(c)
	if err != nil {
		return err
	}
	in, closeIn, err := openTar(c.String("input"))
	if err != nil {
		return fmt.Errorf("--input: %w", err)
	}
	defer closeIn()
	out, err := createImage(c.String("output"), "")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer out.Abort()
	if err := ext4.Build(in, out.File, opt); err != nil {
		if errors.Is(err, ext4.ErrNoSubdir) {
			return fmt.Errorf("%s: %w", inputName(c.String("input")), err)
		}
		return emptyTarError(c.String("input"), err)
	}
	if vopts == nil {
		return out.Commit()
	}
	return appendVerity(c, out, size, *vopts)
}

// verityFlags reads --verity-salt, --verity-uuid and --verity-root-hash of
// icos ext4: nil when no verity area is asked for.
func verityFlags(c *cli.Context) (*verity.Options, error) {
	if c.String("verity-salt") == "" {
		for _, f := range []string{"verity-uuid", "verity-root-hash"} {
			if c.String(f) != "" {
				return nil, fmt.Errorf("--%s needs --verity-salt", f)
			}
		}
		return nil, nil
	}
	salt, err := hex.DecodeString(c.String("verity-salt"))
	if err != nil {
		return nil, fmt.Errorf("--verity-salt %q: not hexadecimal", c.String("verity-salt"))
	}
	if c.String("verity-uuid") == "" || c.String("verity-root-hash") == "" {
		return nil, errors.New("--verity-salt needs --verity-uuid and --verity-root-hash")
	}
	u, err := parseUUID(c.String("verity-uuid"))
	if err != nil {
		return nil, fmt.Errorf("--verity-uuid: %w", err)
	}
	return &verity.Options{Salt: salt, UUID: u}, nil
}

// appendVerity writes the hash area of the size-byte filesystem in out
// right after it, then commits out and the root hash file together.
func appendVerity(c *cli.Context, out *imageOutput, size int64, opts verity.Options) error {
	name := c.String("verity-root-hash")
	rootOut, err := outfile.Create(name, 0o644)
	if err != nil {
		return fmt.Errorf("--verity-root-hash: %w", err)
	}
	defer rootOut.Abort()
	hashSize, err := verity.HashSize(size, false)
	if err != nil {
		return err
	}
	if err := out.File.Truncate(size + hashSize); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	root, err := verity.Write(out.File, size, out.File, size, opts)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintln(rootOut, root); err != nil {
		return fmt.Errorf("--verity-root-hash: %w", err)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	if err := rootOut.Commit(); err != nil {
		os.Remove(c.String("output")) // one output without the other is of no use
		return fmt.Errorf("--verity-root-hash: %w", err)
	}
	return nil
}
