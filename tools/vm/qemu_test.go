package vm

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// needQEMU skips the test when QEMU or OVMF is not installed.
func needQEMU(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath(DefaultQEMU); err != nil {
		t.Skipf("%s not installed (Debian package qemu-system-x86): this test boots a VM", DefaultQEMU)
	}
	for _, f := range []string{DefaultFirmwareCode, DefaultFirmwareVars} {
		if _, err := os.Stat(f); err != nil {
			t.Skipf("OVMF firmware missing (Debian package ovmf): %v", err)
		}
	}
}

// outputDir is where a test leaves files for people to read: Bazel's
// $TEST_UNDECLARED_OUTPUTS_DIR, else a temporary directory.
func outputDir(t *testing.T) string {
	if d := os.Getenv("TEST_UNDECLARED_OUTPUTS_DIR"); d != "" {
		return d
	}
	return t.TempDir()
}

// TestFirmwareBootsTCG boots OVMF under TCG with an empty 1 MiB disk and no
// network: the firmware finds nothing to boot on the virtio disk and says
// so on the serial console ("BdsDxe: failed to load Boot0001 "UEFI Misc
// Device" ..."), then starts its shell.
func TestFirmwareBootsTCG(t *testing.T) {
	needQEMU(t)
	disk := filepath.Join(t.TempDir(), "empty.img")
	if err := os.WriteFile(disk, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(outputDir(t), "firmware-console.log")
	os.Remove(log)
	start := time.Now()
	v, err := Start(Config{Disk: disk, Accel: AccelTCG, NoNetwork: true, Memory: 512 << 20, CPUs: 1, ConsoleLog: log})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Kill()
	ctx := ctxFor(t, 2*time.Minute)
	first, err := v.Console.Expect(ctx, regexp.MustCompile(`\x1b\[2J`)) // the firmware's console starts: it clears the screen
	if err != nil {
		t.Fatal(err)
	}
	firstOutput := time.Since(start)
	m, err := v.Console.Expect(ctx, regexp.MustCompile(`BdsDxe: failed to load (Boot\d+) "UEFI Misc Device" from (\S+): Not Found`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first firmware output (%q) %v after Start, %q %v after Start", first[0], firstOutput.Round(time.Millisecond), m[0], time.Since(start).Round(time.Millisecond))
	if m[2] != "PciRoot(0x0)/Pci(0x1,0x0)" {
		t.Errorf("the virtio disk is at %s", m[2])
	}
	dir := v.Dir
	if err := v.Kill(); err != nil {
		t.Fatal(err)
	}
	if status, _ := v.Wait(); status != 137 {
		t.Errorf("status %d after Kill, want 137", status)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the working directory is still there: %v", err)
	}
	b, err := os.ReadFile(log)
	if err != nil || !strings.Contains(string(b), m[0]) {
		t.Errorf("the console log lacks the firmware's output: %v", err)
	}
}

// TestProbeKVMDecides: the probe comes to a decision within its bound, on
// hosts where KVM works and where it does not.
func TestProbeKVMDecides(t *testing.T) {
	needQEMU(t)
	p := ProbeKVM(DefaultQEMU, DefaultFirmwareCode, DefaultFirmwareVars)
	t.Logf("KVM usable: %v (%s), decided in %v", p.Usable, p.Reason, p.Took.Round(time.Millisecond))
	if p.Reason == "" {
		t.Error("no reason given")
	}
	if p.Took > ProbeTimeout+5*time.Second {
		t.Errorf("the probe took %v, bound %v", p.Took, ProbeTimeout)
	}
}
