// Package boottest boots IC-OS disk images in QEMU (package vm) and reads
// what the booted system shows: the slot GRUB chose and its boot cycle, the
// kernel command line, the root device (dm-verity where the image has it),
// the failed units. It also changes a working disk between boots as an
// upgrade would (update-img into the B slot, grubenv) or as an attacker
// would (a flipped byte in a root filesystem). The boot_test targets of
// icos_build run it (boottest/boot_test.go).
package boottest

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/vm"
)

// Expect is what one boot must show.
type Expect struct {
	Slot  string // "A" or "B": the system GRUB boots
	Cycle string // the boot cycle GRUB reports (after its transition): stable, failsafe_check
	// Verity: the root is /dev/mapper/vroot, opened by icos-node from the
	// initramfs on the slot's root partition (RootPartition).
	Verity        bool
	RootPartition string // the GPT name of the slot's root partition (A_root), for Verity
	// Root matches the source of / (findmnt) when logged in.
	Root *regexp.Regexp
	// Login is "user:password" of a console login (dev images); empty: the
	// checks are read from the console output alone (prod images).
	Login string
	// AllowFailed lists the units that may fail, each with the reason.
	AllowFailed map[string]string
}

// Result is what one boot showed.
type Result struct {
	Slot, Cycle string
	CmdLine     string   // the kernel command line
	Root        string   // the source and options of / (logged-in boots)
	Failed      []string // failed units (logged-in boots)
	Explained   []string // failed units that Expect.AllowFailed explains, with the reason
	State       string   // systemctl is-system-running once multi-user.target is active (logged-in boots)
	Analyze     string   // systemd-analyze (logged-in boots)
	ToLogin     time.Duration
}

var (
	grubLine    = regexp.MustCompile(`Booting IC-OS system ([AB]) \(([^)]*)\), boot cycle (\w+)`)
	cmdlineLine = regexp.MustCompile(`Command line: ([^\r\n]*)`)
	verityLine  = regexp.MustCompile(`icos-node verity-root: (\S+) verified by dm-verity as /dev/mapper/vroot`)
	loginPrompt = regexp.MustCompile(`login: $`)
)

// Check compares a result with what was expected, returning every
// difference.
func (e Expect) Check(r Result) []string {
	var errs []string
	if r.Slot != e.Slot || r.Cycle != e.Cycle {
		errs = append(errs, fmt.Sprintf("GRUB booted system %s, boot cycle %s; want %s, %s", r.Slot, r.Cycle, e.Slot, e.Cycle))
	}
	for _, want := range []string{"dfinity.system=" + e.Slot, "dfinity.boot_state=" + e.Cycle} {
		if !hasWord(r.CmdLine, want) {
			errs = append(errs, fmt.Sprintf("kernel command line %q lacks %s", r.CmdLine, want))
		}
	}
	if e.Verity && !hasWordPrefix(r.CmdLine, "root_hash=") {
		errs = append(errs, fmt.Sprintf("kernel command line %q lacks root_hash=", r.CmdLine))
	}
	if e.Login == "" {
		return errs
	}
	if e.Root != nil && !e.Root.MatchString(r.Root) {
		errs = append(errs, fmt.Sprintf("/ is %q, want %s", r.Root, e.Root))
	}
	for _, u := range r.Failed {
		if _, ok := e.AllowFailed[u]; !ok {
			errs = append(errs, fmt.Sprintf("unit %s failed (not explained)", u))
		}
	}
	return errs
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

func hasWordPrefix(s, p string) bool {
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// parseFailed reads the unit names of `systemctl list-units --failed
// --plain --no-legend`.
func parseFailed(out string) []string {
	var units []string
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) > 0 && strings.Contains(f[0], ".") {
			units = append(units, f[0])
		}
	}
	sort.Strings(units)
	return units
}

// Boot reads one boot of the VM whose console is c, started just before:
// it waits for GRUB's line, the kernel command line, icos-node's verity
// line (e.Verity) and the login prompt, then, with e.Login, logs in and
// runs the checks in the guest. It does not stop the VM. log gets a
// summary.
func Boot(ctx context.Context, c *vm.Console, e Expect, log io.Writer) (Result, error) {
	var r Result
	start := time.Now()
	m, err := c.Expect(ctx, grubLine)
	if err != nil {
		return r, fmt.Errorf("boottest: GRUB: %w", err)
	}
	r.Slot, r.Cycle = m[1], m[3]
	fmt.Fprintf(log, "GRUB: system %s on %s, boot cycle %s (%.0f s)\n", m[1], m[2], m[3], time.Since(start).Seconds())
	if m, err = c.Expect(ctx, cmdlineLine); err != nil {
		return r, fmt.Errorf("boottest: kernel command line: %w", err)
	}
	r.CmdLine = strings.TrimSpace(m[1])
	fmt.Fprintf(log, "kernel command line: %s\n", r.CmdLine)
	if e.Verity {
		if m, err = c.Expect(ctx, verityLine); err != nil {
			return r, fmt.Errorf("boottest: dm-verity root: %w", err)
		}
		if want := "/dev/disk/by-partlabel/" + e.RootPartition; m[1] != want {
			return r, fmt.Errorf("boottest: dm-verity root on %s, want %s", m[1], want)
		}
		fmt.Fprintf(log, "initramfs: %s\n", m[0])
	}
	if _, err := c.Expect(ctx, loginPrompt); err != nil {
		return r, fmt.Errorf("boottest: login prompt: %w", err)
	}
	r.ToLogin = time.Since(start)
	fmt.Fprintf(log, "console login prompt %.0f s after GRUB\n", r.ToLogin.Seconds())
	if e.Login == "" {
		return r, nil
	}
	user, password, _ := strings.Cut(e.Login, ":")
	// The prompt was read: send a newline for a fresh one to log in at.
	if err := c.Send("\n"); err != nil {
		return r, err
	}
	if err := c.Login(ctx, user, password); err != nil {
		return r, fmt.Errorf("boottest: login: %w", err)
	}
	run := func(cmd string) (string, error) {
		out, status, err := c.Run(ctx, cmd)
		if err != nil {
			return "", fmt.Errorf("boottest: %s: %w", cmd, err)
		}
		if status != 0 {
			return out, fmt.Errorf("boottest: %s: exit status %d\n%s", cmd, status, out)
		}
		return strings.TrimSpace(out), nil
	}
	// No pager: the serial console is a terminal of unknown size.
	if _, err := run("export SYSTEMD_PAGER=cat PAGER=cat SYSTEMD_COLORS=0"); err != nil {
		return r, err
	}
	guestCmdline, err := run("cat /proc/cmdline")
	if err != nil {
		return r, err
	}
	if guestCmdline != r.CmdLine {
		return r, fmt.Errorf("boottest: /proc/cmdline %q, the kernel printed %q", guestCmdline, r.CmdLine)
	}
	root, err := run("findmnt -n -o SOURCE,FSTYPE,OPTIONS /")
	if err != nil {
		return r, err
	}
	r.Root = strings.Join(strings.Fields(root), " ")
	fmt.Fprintf(log, "/: %s\n", r.Root)
	if e.Verity {
		out, err := run("dmsetup table vroot; dmsetup deps -o devname vroot; readlink -f /dev/disk/by-partlabel/" + e.RootPartition)
		if err != nil {
			return r, err
		}
		fmt.Fprintf(log, "dm-verity: %s\n", strings.ReplaceAll(out, "\n", " | "))
		lines := strings.Split(out, "\n")
		if len(lines) != 3 || !strings.Contains(lines[0], " verity 1 ") || !strings.Contains(lines[0], "panic_on_corruption") ||
			!strings.HasSuffix(lines[1], "("+strings.TrimPrefix(lines[2], "/dev/")+")") {
			return r, fmt.Errorf("boottest: vroot is not a dm-verity target on %s:\n%s", e.RootPartition, out)
		}
	}
	// is-system-running exits non-zero when degraded: read its word.
	state, _, err := c.Run(ctx, "systemctl is-system-running --wait")
	if err != nil {
		return r, fmt.Errorf("boottest: systemctl is-system-running: %w", err)
	}
	r.State = strings.TrimSpace(state)
	if _, err := run("systemctl is-active multi-user.target"); err != nil {
		return r, err
	}
	out, err := run("systemctl list-units --failed --plain --no-legend --no-pager")
	if err != nil {
		return r, err
	}
	r.Failed = parseFailed(out)
	for _, u := range r.Failed {
		// The unit's last words, for the log: evidence for its reason.
		if j, err := run("journalctl -b -u '" + u + "' -n 4 -o cat --no-pager"); err == nil {
			fmt.Fprintf(log, "%s: %s\n", u, strings.ReplaceAll(j, "\n", " | "))
		}
	}
	for _, u := range r.Failed {
		if why, ok := e.AllowFailed[u]; ok {
			r.Explained = append(r.Explained, u+": "+why)
		}
	}
	if r.Analyze, err = run("systemd-analyze"); err != nil {
		return r, err
	}
	fmt.Fprintf(log, "system %s; failed units %v; %s\n", r.State, r.Failed, strings.ReplaceAll(r.Analyze, "\n", " "))
	return r, nil
}

// Start starts a VM for a boot test: TCG or KVM as vm decides, no reboot
// (a reboot or a panic ends QEMU), the console logged to consoleLog.
func Start(disk, keepDir, consoleLog string, stderr io.Writer) (*vm.VM, error) {
	return vm.Start(vm.Config{
		Disk:       disk,
		KeepDir:    keepDir,
		NoReboot:   true,
		ConsoleLog: consoleLog,
		Stderr:     stderr,
	})
}
