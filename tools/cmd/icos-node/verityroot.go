package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/verityroot"
)

// Defaults of verity-root: the files `icos initrd` installs and those of
// initramfs-tools.
const (
	defaultModuleList = "/usr/lib/icos/verity-root.modules"
	defaultParamFile  = "/conf/param.conf"
	defaultDmsetup    = "/usr/sbin/dmsetup"
)

const verityRootUsage = "Sets up the dm-verity device of the root filesystem, from initramfs-tools' local-top. Without\n" +
	"root_hash= on the kernel command line it does nothing. With it, the command line must also hold\n" +
	"root=PARTLABEL=<partition> (or PARTUUID=, UUID=, LABEL=, /dev/...) and root_hash_offset=<bytes>, the\n" +
	"offset of the hash area in the partition (the filesystem's size). It loads the modules of --modules,\n" +
	"waits for the root device, checks the verity superblock at the offset, creates the read-only target\n" +
	"/dev/mapper/vroot with dmsetup and appends ROOT=/dev/mapper/vroot to --param-file. Any failure is one\n" +
	"line on standard error and exit status 1: never fall back to the unverified partition."

func init() {
	commands["verity-root"] = command{usage: "set up the dm-verity root device (initramfs local-top)", run: runVerityRoot}
}

func runVerityRoot(name string, args []string, stdout, stderr io.Writer) int {
	fs := newFlagSet(name, verityRootUsage, stderr)
	cmdline := fs.String("cmdline", "/proc/cmdline", "read the kernel command line from `FILE`")
	moduleList := fs.String("modules", defaultModuleList, "`FILE` listing the kernel module files to load, in order, one a line")
	timeout := fs.Duration("timeout", 30*time.Second, "wait this long for the root device to appear")
	paramFile := fs.String("param-file", defaultParamFile, "initramfs-tools parameter `FILE` to append ROOT= to")
	dmsetup := fs.String("dmsetup", defaultDmsetup, "dmsetup binary `PATH`")
	if status, ok := fs.parse(args); !ok {
		return status
	}

	b, err := os.ReadFile(*cmdline)
	if err != nil {
		return fail(stderr, name, "", fmt.Errorf("kernel command line: %w", err))
	}
	line := strings.TrimSpace(string(b))
	if _, on, err := verityroot.ParseCmdline(line); err != nil || !on {
		if err != nil {
			return fail(stderr, name, "verityroot: ", err)
		}
		return 0
	}
	f, err := os.Open(*moduleList)
	if err != nil {
		return fail(stderr, name, "", fmt.Errorf("--modules: %w", err))
	}
	mods, err := verityroot.ParseModuleList(f)
	f.Close()
	if err != nil {
		return fail(stderr, name, "verityroot: ", fmt.Errorf("%s: %w", *moduleList, err))
	}
	cfg := verityroot.Config{Cmdline: line, Modules: mods, Timeout: *timeout, ParamFile: *paramFile, Log: stderr}
	if _, err := verityroot.Run(cfg, verityroot.OS{Dmsetup: *dmsetup}); err != nil {
		return fail(stderr, name, "verityroot: ", err)
	}
	return 0
}
