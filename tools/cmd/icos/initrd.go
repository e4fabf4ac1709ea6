package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/initrd"
	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/zst"
)

func init() {
	register(&cli.Command{
		Name:  "initrd",
		Usage: "write the extra initramfs that sets up the dm-verity root (icos-initrd.img)",
		UsageText: "icos initrd --rootfs rootfs-tree.tar --kernel-modules dm-verity --binary icos-node " +
			"--output icos-initrd.img [--mtime 0] [--zstd]",
		Description: "Writes a cpio archive (newc) for the boot loader to load after the base initramfs " +
			"(`initrd /initrd.img /icos-initrd.img`): the icos-node --binary as /usr/lib/icos/icos-node, the " +
			"--kernel-modules and their dependencies (from the modules.dep of the one kernel in --rootfs, in load " +
			"order) under /usr/lib/modules/<version>, their list /usr/lib/icos/verity-root.modules, and the " +
			"initramfs-tools script scripts/local-top/icos-verity-root with its scripts/local-top/ORDER. Every " +
			"entry has owner 0:0 and modification time --mtime. With --zstd the archive is zstd-compressed, which " +
			"requires CONFIG_RD_ZSTD=y in the rootfs's boot/config-<version>. See package tools/initrd.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "rootfs", Required: true, Usage: "rootfs tar `FILE` (as icos rootfs writes it; read twice, so not standard input)"},
			&cli.StringSliceFlag{Name: "kernel-modules", Required: true, Usage: "kernel `MODULE`s to include and load, by name (comma-separated or repeated); dependencies are added"},
			&cli.StringFlag{Name: "binary", Required: true, Usage: "the icos-node `FILE` (static)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "initramfs `FILE` to write"},
			&cli.Int64Flag{Name: "mtime", Value: 0, Usage: "modification time of every entry, in Unix `SECONDS`"},
			&cli.BoolFlag{Name: "zstd", Usage: "compress the archive with zstd (level " + fmt.Sprint(zst.DefaultLevel) + ")"},
		},
		Action: noArgs(runInitrd),
	})
}

func runInitrd(c *cli.Context) error {
	bin, err := os.ReadFile(c.String("binary"))
	if err != nil {
		return fmt.Errorf("--binary: %w", err)
	}
	if len(bin) < 4 || string(bin[:4]) != "\x7fELF" {
		return fmt.Errorf("--binary %s: not an ELF executable", c.String("binary"))
	}
	if m := c.Int64("mtime"); m < 0 || m > 0xFFFFFFFF {
		return fmt.Errorf("--mtime %d: want 0 to 4294967295", m)
	}
	root, err := os.Open(c.String("rootfs"))
	if err != nil {
		return fmt.Errorf("--rootfs: %w", err)
	}
	defer root.Close()
	var archive bytes.Buffer
	info, err := initrd.Write(&archive, root, initrd.Options{
		Modules: c.StringSlice("kernel-modules"),
		Binary:  bin,
		ModTime: c.Int64("mtime"),
	})
	if err != nil {
		return fmt.Errorf("--rootfs %s: %w", c.String("rootfs"), err)
	}
	if c.Bool("zstd") && !info.RDZstd {
		return fmt.Errorf("--zstd: the kernel %s cannot unpack it: no CONFIG_RD_ZSTD=y in boot/config-%s of --rootfs", info.KernelVersion, info.KernelVersion)
	}

	out, err := outfile.Create(c.String("output"), 0o644)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer out.Abort()
	if c.Bool("zstd") {
		zw, err := zst.NewWriter(out, zst.Options{})
		if err != nil {
			return err
		}
		if _, err := zw.Write(archive.Bytes()); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("--output: %w", err)
		}
	} else if _, err := out.Write(archive.Bytes()); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if err := out.Commit(); err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "icos initrd: %s: kernel %s, modules %v, %d bytes of cpio\n",
		c.String("output"), info.KernelVersion, info.Modules, archive.Len())
	return nil
}
