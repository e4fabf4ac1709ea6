// Package boot is the test binary of a boot_test target of icos_build: it
// boots one image in QEMU and checks what the booted system shows (package
// boottest); with -upgrade it also installs the image's update-img into
// system B, boots B, and boots again to see GRUB fall back to A; with
// -corrupt it boots a copy whose root partition has one flipped byte and
// expects dm-verity to stop the boot.
package boot

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/boottest"
	"github.com/icos-build/icos/tools/grubenv"
	"github.com/icos-build/icos/tools/vm"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

var (
	diskPath   = flag.String("disk", "", "disk-img.tar.zst to boot (runfiles path under Bazel)")
	updatePath = flag.String("update", "", "update-img.tar.zst of the same build (with -upgrade)")
	login      = flag.String("login", "", "user:password of a console login (dev images); empty: read the console only")
	verity     = flag.Bool("verity", false, "the root is opened through dm-verity by the initramfs")
	rootRE     = flag.String("root", "", "regexp the source of / (findmnt SOURCE,FSTYPE,OPTIONS) must match, %s standing for the slot (A or B)")
	upgrade    = flag.Bool("upgrade", false, "also test the A/B upgrade and the fallback to A")
	corrupt    = flag.Bool("corrupt", false, "also boot a copy with a flipped byte in A_root and expect dm-verity to stop it")
	timeout    = flag.Duration("boot-timeout", 15*time.Minute, "time allowed for one boot")
	allow      listFlag
)

func init() {
	flag.Var(&allow, "allow-failed", "UNIT=REASON: a unit that may fail, and why (repeated)")
}

func runfile(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	if dir, ws := os.Getenv("TEST_SRCDIR"), os.Getenv("TEST_WORKSPACE"); dir != "" && ws != "" {
		return filepath.Join(dir, ws, p)
	}
	return p
}

// outputs is where console logs go: Bazel keeps $TEST_UNDECLARED_OUTPUTS_DIR.
func outputs(t *testing.T) string {
	if d := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

func expectFor(t *testing.T, slot, cycle string) boottest.Expect {
	e := boottest.Expect{Slot: slot, Cycle: cycle, Verity: *verity, RootPartition: slot + "_root", Login: *login, AllowFailed: map[string]string{}}
	if *rootRE != "" {
		e.Root = regexp.MustCompile(strings.ReplaceAll(*rootRE, "%s", slot))
	}
	for _, a := range allow {
		u, why, ok := strings.Cut(a, "=")
		if !ok {
			t.Fatalf("-allow-failed %q: want UNIT=REASON", a)
		}
		e.AllowFailed[u] = why
	}
	return e
}

// boot starts the VM on keep (disk: the image, or "" to boot keep's disk
// again), checks one boot against e and stops the VM.
func boot(t *testing.T, n int, disk, keep string, e boottest.Expect) {
	t.Helper()
	logPath := filepath.Join(outputs(t), fmt.Sprintf("%s-boot%d-console.log", t.Name(), n))
	v, err := boottest.Start(disk, keep, logPath, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	var log strings.Builder
	r, err := boottest.Boot(ctx, v.Console, e, &log)
	t.Logf("boot %d (%s, console log %s):\n%s", n, v.Accel, filepath.Base(logPath), log.String())
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range r.Explained {
		t.Logf("boot %d: failed as expected: %s", n, x)
	}
	for _, msg := range e.Check(r) {
		t.Errorf("boot %d: %s", n, msg)
	}
	if t.Failed() {
		t.FailNow()
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s", strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func grubenvOf(t *testing.T, disk string) string {
	t.Helper()
	parts, err := boottest.Partitions(disk)
	if err != nil {
		t.Fatal(err)
	}
	vars, err := boottest.ReadGrubenv(disk, parts["grub"])
	if err != nil {
		t.Fatal(err)
	}
	a, _ := grubenv.Get(vars, "boot_alternative")
	c, _ := grubenv.Get(vars, "boot_cycle")
	return a + " " + c
}

// TestBoot boots the image (system A, first boot after the install), and
// with -upgrade: writes update-img into B, sets grubenv to boot B once
// (first_boot), boots B (failsafe_check: nothing confirms it), then boots
// again and expects GRUB to fall back to A.
func TestBoot(t *testing.T) {
	if *diskPath == "" {
		t.Skip("no -disk: run by the boot_test targets of icos_build")
	}
	keep := filepath.Join(t.TempDir(), "vm")
	boot(t, 1, runfile(*diskPath), keep, expectFor(t, "A", "stable"))
	disk := filepath.Join(keep, vm.DiskName)
	if got := grubenvOf(t, disk); got != "A stable" {
		t.Fatalf("grubenv after the first boot: %q, want A stable (install -> stable)", got)
	}
	if !*upgrade {
		return
	}
	parts, err := boottest.Partitions(disk)
	if err != nil {
		t.Fatal(err)
	}
	if err := boottest.WriteUpdate(disk, runfile(*updatePath), parts["B_boot"], parts["B_root"]); err != nil {
		t.Fatal(err)
	}
	if err := boottest.SetGrubenv(disk, parts["grub"], "boot_alternative=B", "boot_cycle=first_boot"); err != nil {
		t.Fatal(err)
	}
	boot(t, 2, "", keep, expectFor(t, "B", "failsafe_check"))
	if got := grubenvOf(t, disk); got != "B failsafe_check" {
		t.Fatalf("grubenv after booting B: %q, want B failsafe_check", got)
	}
	boot(t, 3, "", keep, expectFor(t, "A", "stable"))
	if got := grubenvOf(t, disk); got != "A stable" {
		t.Fatalf("grubenv after the fallback: %q, want A stable", got)
	}
}

var (
	corrupted = regexp.MustCompile(`device-mapper: verity: [0-9:]+: data block \d+ is corrupted`)
	panicked  = regexp.MustCompile(`Kernel panic - not syncing: dm-verity device corrupted`)
)

// TestCorruptRoot flips one byte of A_root, in the first 1 KiB, which ext4
// never reads or checks (the superblock starts at 1024), and expects
// dm-verity to refuse the root: corrupted data block, kernel panic, no
// login prompt.
func TestCorruptRoot(t *testing.T) {
	if *diskPath == "" || !*corrupt {
		t.Skip("no -disk -corrupt: run by the boot_test targets of icos_build")
	}
	keep := filepath.Join(t.TempDir(), "vm")
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(keep, vm.DiskName)
	if err := vm.CopyDisk(disk, runfile(*diskPath)); err != nil {
		t.Fatal(err)
	}
	parts, err := boottest.Partitions(disk)
	if err != nil {
		t.Fatal(err)
	}
	if err := boottest.FlipByte(disk, parts["A_root"], 512); err != nil {
		t.Fatal(err)
	}
	logPath := filepath.Join(outputs(t), t.Name()+"-console.log")
	v, err := boottest.Start("", keep, logPath, testWriter{t})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	for _, re := range []*regexp.Regexp{corrupted, panicked} {
		m, err := v.Console.Expect(ctx, re)
		if err != nil {
			t.Fatalf("dm-verity did not stop the corrupted root: %v", err)
		}
		t.Logf("console: %s", m[0])
	}
	if strings.Contains(v.Console.Tail(), "login:") {
		t.Errorf("a login prompt appeared although the root is corrupted")
	}
}
