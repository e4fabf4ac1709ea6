package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/bootloader"
)

func init() {
	register(&cli.Command{
		Name:  "bootloader",
		Usage: "fetch or bump the boot loader files (Debian's signed shim and GRUB) pinned by " + bootloader.LockPath,
		Description: "The files come from Debian packages, downloaded from the archive roots of the host's apt sources " +
			"for the lock's suites; every .deb and every file is checked against its sha256 in the lock. See tools/bootloader.",
		Subcommands: []*cli.Command{
			{
				Name:      "fetch",
				Usage:     "download the locked packages and write their files below --output (mode 0644, mtime 0)",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "lock", Value: bootloader.LockPath, Usage: "lock `FILE`"},
					&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "`DIR` to write the files to (DIR/<path>)"},
					&cli.StringFlag{Name: "apt-root", Value: "/", EnvVars: []string{"ICOS_APT_ROOT"}, Usage: "`DIR` whose etc/apt gives the Debian mirror"},
					&cli.BoolFlag{Name: "quiet", Usage: "print errors only"},
				},
				Action: noArgs(bootloaderFetch),
			},
			{
				Name:      "bump",
				Usage:     "re-resolve the locked packages to the newest versions the archive lists, download them, rewrite the lock",
				ArgsUsage: " ",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "lock", Value: bootloader.LockPath, Usage: "lock `FILE` to rewrite"},
					&cli.StringFlag{Name: "tmpdir", Usage: "scratch `DIR` for the downloaded indexes (default $TMPDIR)"},
					&cli.StringFlag{Name: "apt-root", Value: "/", EnvVars: []string{"ICOS_APT_ROOT"}, Usage: "`DIR` whose etc/apt gives the Debian mirror"},
					&cli.BoolFlag{Name: "quiet", Usage: "print errors only"},
				},
				Action: noArgs(bootloaderBump),
			},
		},
	})
}

func bootloaderOptions(c *cli.Context) bootloader.Options {
	opt := bootloader.Options{AptRoot: c.String("apt-root")}
	if !c.Bool("quiet") {
		opt.Log = os.Stderr
	}
	return opt
}

func bootloaderFetch(c *cli.Context) error {
	l, err := bootloader.ReadLock(c.String("lock"))
	if err != nil {
		return err
	}
	return bootloader.Fetch(c.Context, l, c.String("output"), bootloaderOptions(c))
}

func bootloaderBump(c *cli.Context) error {
	name := c.String("lock")
	l, changes, err := bootloader.Bump(c.Context, name, bootloader.BumpOptions{Options: bootloaderOptions(c), TmpDir: c.String("tmpdir")})
	if err != nil {
		return err
	}
	for _, ch := range changes {
		switch {
		case ch.Old == ch.New:
			fmt.Printf("%s %s (unchanged)\n", ch.Name, ch.New)
		case ch.Old == "":
			fmt.Printf("%s %s (new)\n", ch.Name, ch.New)
		default:
			fmt.Printf("%s %s -> %s\n", ch.Name, ch.Old, ch.New)
		}
	}
	if !c.Bool("quiet") {
		fmt.Fprintf(os.Stderr, "icos: wrote %s (%d packages, %d files)\n", name, len(l.Packages), len(l.Files))
	}
	return nil
}
