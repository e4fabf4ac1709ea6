package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/vm"
)

func init() {
	register(&cli.Command{
		Name:  "vm",
		Usage: "boot IC-OS disk images in QEMU",
		Subcommands: []*cli.Command{{
			Name:  "run",
			Usage: "boot a disk image with the serial console on this terminal",
			UsageText: "icos vm run --disk disk-img.tar.zst [--drive usb:config:config.img] [--forward tcp:2222:22]\n" +
				"   icos vm run --disk disk-img.tar.zst --keep DIR   # keep the working disk; later: icos vm run --keep DIR",
			Description: "Boots --disk (a disk-img.tar.zst or .tar holding disk.img, or a raw image) in QEMU: q35 with " +
				"OVMF, the disk on virtio-blk, user networking on virtio-net, no display. The disk given is never " +
				"written: it is copied, sparse, into a temporary directory removed when QEMU ends (or into --keep DIR, " +
				"kept, where a later run without --disk boots it again). The serial console is on this terminal, " +
				"multiplexed with QEMU's monitor: Ctrl-A X quits, Ctrl-A C switches to the monitor and back, " +
				"Ctrl-A H lists the keys; Ctrl-C goes to the guest. KVM is used if a probe guest runs under it, " +
				"else TCG (-cpu max), which is several times slower. The exit status is QEMU's. See package tools/vm.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "disk", Usage: "boot a copy of `FILE` (disk-img.tar.zst, .tar or raw image)"},
				&cli.GenericFlag{Name: "drive", Value: &assignments{}, Usage: "attach `INTERFACE:SERIAL:FILE` too (usb, nvme or virtio; the guest's writes are thrown away); repeatable"},
				&cli.StringFlag{Name: "memory", Value: "2G", Usage: "guest RAM: " + sizeUsage + "; a multiple of 1M"},
				&cli.IntFlag{Name: "cpus", Value: vm.DefaultCPUs, Usage: "guest CPUs"},
				&cli.StringFlag{Name: "accel", Value: string(vm.AccelAuto), Usage: "accelerator: auto (KVM if it works, else TCG), kvm or tcg"},
				&cli.GenericFlag{Name: "forward", Value: &assignments{}, Usage: "forward 127.0.0.1:HOSTPORT to the guest: `tcp:HOSTPORT:GUESTPORT` (or udp:...); repeatable"},
				&cli.StringFlag{Name: "keep", Usage: "keep the working disk and UEFI variables in `DIR`; boot them again if DIR holds them"},
				&cli.BoolFlag{Name: "no-reboot", Usage: "exit when the guest reboots"},
				&cli.BoolFlag{Name: "no-network", Usage: "no network device"},
				&cli.StringFlag{Name: "tmpdir", Usage: "`DIR` for the temporary working disk (default: $TMPDIR or /tmp)"},
				&cli.StringFlag{Name: "qemu", Value: vm.DefaultQEMU, Usage: "QEMU `BINARY`"},
				&cli.StringFlag{Name: "ovmf-code", Value: vm.DefaultFirmwareCode, Usage: "OVMF firmware code `FILE` (mapped read-only)"},
				&cli.StringFlag{Name: "ovmf-vars", Value: vm.DefaultFirmwareVars, Usage: "OVMF variable store `FILE` (copied)"},
			},
			Action: vmRunAction,
		}},
	})
}

// vmRunAction takes the values of the repeatable flags out of their flag
// (see grubenvAction), then runs runVM; errors of package vm lose their
// "vm: " prefix, which the command's ("icos vm run: ") stands for.
func vmRunAction(c *cli.Context) error {
	var drives, forwards []string
	if a, ok := c.Generic("drive").(*assignments); ok {
		drives, a.list = a.list, nil
	}
	if a, ok := c.Generic("forward").(*assignments); ok {
		forwards, a.list = a.list, nil
	}
	err := noArgs(func(c *cli.Context) error { return runVM(c, drives, forwards) })(c)
	var ec cli.ExitCoder
	if err == nil || errors.As(err, &ec) {
		return err
	}
	return &vmError{err}
}

// runVM boots the VM and waits for QEMU.
func runVM(c *cli.Context, drives, forwards []string) error {
	cfg, err := vmConfig(c, drives, forwards)
	if err != nil {
		return err
	}
	v, err := vm.Start(cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(c.App.ErrWriter, "icos vm run: %s, working disk in %s; console on this terminal: Ctrl-A X quits, Ctrl-A C toggles the QEMU monitor\n", v.Accel, v.Dir)
	status, err := v.Wait()
	if err != nil {
		return err
	}
	if cfg.KeepDir != "" {
		fmt.Fprintf(c.App.ErrWriter, "icos vm run: working disk kept: %s/%s (boot it again with --keep %s and no --disk)\n", cfg.KeepDir, vm.DiskName, cfg.KeepDir)
	}
	if status != 0 {
		return cli.Exit("", status)
	}
	return nil
}

// vmConfig makes the VM's configuration from the flags.
func vmConfig(c *cli.Context, drives, forwards []string) (vm.Config, error) {
	cfg := vm.Config{
		Disk:         c.String("disk"),
		KeepDir:      c.String("keep"),
		TempDir:      c.String("tmpdir"),
		CPUs:         c.Int("cpus"),
		NoReboot:     c.Bool("no-reboot"),
		NoNetwork:    c.Bool("no-network"),
		Terminal:     true,
		QEMU:         c.String("qemu"),
		FirmwareCode: c.String("ovmf-code"),
		FirmwareVars: c.String("ovmf-vars"),
		Stderr:       c.App.ErrWriter,
	}
	if cfg.Disk == "" && cfg.KeepDir == "" {
		return cfg, errors.New("give --disk, or --keep DIR holding the working disk of an earlier run")
	}
	mem, err := sizeFlag(c, "memory")
	if err != nil {
		return cfg, err
	}
	cfg.Memory = mem
	if cfg.CPUs < 1 {
		return cfg, fmt.Errorf("--cpus %d: want at least 1", cfg.CPUs)
	}
	if cfg.Accel, err = vm.ParseAccel(c.String("accel")); err != nil {
		return cfg, fmt.Errorf("--accel: %w", err)
	}
	for _, s := range drives {
		d, err := vm.ParseDrive(s)
		if err != nil {
			return cfg, fmt.Errorf("--drive: %w", err)
		}
		cfg.Drives = append(cfg.Drives, d)
	}
	for _, s := range forwards {
		f, err := vm.ParseForward(s)
		if err != nil {
			return cfg, fmt.Errorf("--forward: %w", err)
		}
		cfg.Forwards = append(cfg.Forwards, f)
	}
	return cfg, nil
}

// vmError is an error of icos vm run with the "vm: " of package vm taken
// out, after the flag name if one is in front ("--drive: vm: drive ..."
// becomes "--drive: drive ...").
type vmError struct{ err error }

func (e *vmError) Error() string {
	msg := e.err.Error()
	if flag, rest, ok := strings.Cut(msg, ": vm: "); ok && strings.HasPrefix(flag, "--") && !strings.Contains(flag, " ") {
		return flag + ": " + rest
	}
	return strings.TrimPrefix(msg, "vm: ")
}
func (e *vmError) Unwrap() error { return e.err }
