package vm

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// fakeQEMU writes an executable shell script standing in for QEMU and
// returns its path.
func fakeQEMU(t *testing.T, script string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "qemu")
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// fakeFirmware writes the firmware files and returns a Config using them.
func fakeFirmware(t *testing.T, qemu string) Config {
	t.Helper()
	dir := t.TempDir()
	c := Config{
		QEMU:         qemu,
		FirmwareCode: filepath.Join(dir, "CODE.fd"),
		FirmwareVars: filepath.Join(dir, "VARS.fd"),
		Accel:        AccelTCG,
		TempDir:      t.TempDir(),
		Stderr:       &syncBuffer{},
	}
	os.WriteFile(c.FirmwareCode, []byte("code"), 0o644)
	os.WriteFile(c.FirmwareVars, []byte("vars template"), 0o644)
	return c
}

func TestStartWaitConsole(t *testing.T) {
	qemu := fakeQEMU(t, `echo "firmware: $*"; read line; echo "got: $line"; echo "qemu: bye" >&2; exit 7`)
	c := fakeFirmware(t, qemu)
	src := filepath.Join(t.TempDir(), "disk.img")
	want := sparseDisk(t, src)
	c.Disk = src
	c.ConsoleLog = filepath.Join(t.TempDir(), "console.log")
	os.WriteFile(c.ConsoleLog, []byte("earlier boot\n"), 0o644)
	v, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t, 10*time.Second)
	m, err := v.Console.Expect(ctx, regexp.MustCompile(`firmware: (.*)\n`))
	if err != nil {
		t.Fatal(err)
	}
	if want := strings.Join(v.Args[1:], " "); m[1] != want {
		t.Errorf("QEMU got %q, want %q", m[1], want)
	}
	if !strings.Contains(m[1], "-accel tcg -cpu max") || !strings.Contains(m[1], "file="+filepath.Join(v.Dir, DiskName)) {
		t.Errorf("QEMU args %q: want TCG and the working disk", m[1])
	}
	if !strings.HasPrefix(v.Dir, c.TempDir+"/icos-vm-") {
		t.Errorf("working directory %s, want a temporary one in %s", v.Dir, c.TempDir)
	}
	if got, _ := os.ReadFile(filepath.Join(v.Dir, DiskName)); !bytes.Equal(got, want) {
		t.Error("the working disk differs from the disk")
	}
	if a := allocated(t, filepath.Join(v.Dir, DiskName)); a > 1<<20 {
		t.Errorf("the working disk has %d bytes allocated: not sparse", a)
	}
	if got, _ := os.ReadFile(filepath.Join(v.Dir, VarsName)); string(got) != "vars template" {
		t.Errorf("variable store %q, want a copy of the template", got)
	}
	if err := v.Console.Send("hello\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Console.Expect(ctx, regexp.MustCompile(`got: hello`)); err != nil {
		t.Fatal(err)
	}
	if status, err := v.Wait(); status != 7 || err != nil {
		t.Errorf("Wait = %d, %v; want 7", status, err)
	}
	if _, err := os.Stat(v.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the working directory is still there: %v", err)
	}
	_, err = v.Console.Expect(ctx, regexp.MustCompile(`never`))
	if !errors.Is(err, ErrEnded) || !strings.Contains(err.Error(), "(QEMU exited with status 7; its standard error ends with:\n  | qemu: bye)") {
		t.Errorf("Expect after the exit: %v", err)
	}
	log, _ := os.ReadFile(c.ConsoleLog)
	if !strings.HasPrefix(string(log), "earlier boot\nfirmware: ") || !strings.HasSuffix(string(log), "got: hello\n") {
		t.Errorf("console log %q: want the output appended", log)
	}
	if got := c.Stderr.(*syncBuffer).String(); got != "qemu: bye\n" {
		t.Errorf("stderr %q", got)
	}
	if got, _ := os.ReadFile(src); !bytes.Equal(got, want) {
		t.Error("the disk given changed")
	}
}

func TestKill(t *testing.T) {
	c := fakeFirmware(t, fakeQEMU(t, `echo up; exec sleep 600`))
	c.Disk = filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(c.Disk, make([]byte, 4096), 0o644)
	v, err := Start(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Console.Expect(ctxFor(t, 10*time.Second), regexp.MustCompile(`up`)); err != nil {
		t.Fatal(err)
	}
	if err := v.Kill(); err != nil {
		t.Fatal(err)
	}
	if status, _ := v.Wait(); status != 128+9 {
		t.Errorf("status %d after Kill, want 137", status)
	}
	if err := v.Kill(); err != nil {
		t.Errorf("second Kill: %v", err)
	}
	if _, err := os.Stat(v.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the working directory is still there: %v", err)
	}
}

func TestKeepDir(t *testing.T) {
	c := fakeFirmware(t, fakeQEMU(t, `echo ran`))
	src := filepath.Join(t.TempDir(), "disk.img")
	want := sparseDisk(t, src)
	keep := filepath.Join(t.TempDir(), "keep")
	c.Disk, c.KeepDir = src, keep
	boot := func(c Config) {
		t.Helper()
		v, err := Start(c)
		if err != nil {
			t.Fatal(err)
		}
		if v.Dir != keep {
			t.Errorf("working directory %s, want %s", v.Dir, keep)
		}
		if status, err := v.Wait(); status != 0 || err != nil {
			t.Fatalf("Wait = %d, %v", status, err)
		}
	}
	boot(c)
	work := filepath.Join(keep, DiskName)
	if got, _ := os.ReadFile(work); !bytes.Equal(got, want) {
		t.Fatal("the kept disk differs from the disk")
	}
	// A test changes the disk (and the firmware its variables) between boots.
	f, err := os.OpenFile(work, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte("upgraded"), 4096)
	f.Close()
	os.WriteFile(filepath.Join(keep, VarsName), []byte("vars with Boot0001"), 0o644)

	if _, err := Start(c); err == nil || !strings.Contains(err.Error(), "holds a working disk already") {
		t.Errorf("second Start with a disk: %v, want an error", err)
	}
	c.Disk = ""
	boot(c)
	got, _ := os.ReadFile(work)
	if !bytes.Equal(got[4096:4104], []byte("upgraded")) {
		t.Error("the second boot did not keep the changed disk")
	}
	if vars, _ := os.ReadFile(filepath.Join(keep, VarsName)); string(vars) != "vars with Boot0001" {
		t.Errorf("variable store %q: the second boot replaced it", vars)
	}
	if ents, _ := os.ReadDir(keep); len(ents) != 2 {
		t.Errorf("the kept directory holds %d files, want 2", len(ents))
	}
	if ents, _ := os.ReadDir(c.TempDir); len(ents) != 0 {
		t.Errorf("temporary files left: %v", ents)
	}
}

func TestStartErrors(t *testing.T) {
	qemu := fakeQEMU(t, "exit 0")
	disk := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(disk, make([]byte, 4096), 0o644)
	emptyKeep := t.TempDir()
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no QEMU", func(c *Config) { c.QEMU = "icos-no-such-qemu" }, "vm: icos-no-such-qemu not found (install the Debian package qemu-system-x86): "},
		{"no firmware", func(c *Config) { c.FirmwareCode = "/nonexistent/CODE.fd" }, "vm: firmware (install the Debian package ovmf): stat /nonexistent/CODE.fd: no such file or directory"},
		{"no drive file", func(c *Config) { c.Drives = []Drive{{Interface: USB, File: "/nonexistent/cfg.img"}} }, "vm: drive: stat /nonexistent/cfg.img: no such file or directory"},
		{"no disk", func(c *Config) { c.Disk = "" }, "vm: no disk given"},
		{"nothing to boot again", func(c *Config) { c.Disk, c.KeepDir = "", emptyKeep }, "vm: " + emptyKeep + " holds no disk.img to boot again and no disk is given"},
		{"missing disk", func(c *Config) { c.Disk = "/nonexistent/disk.img" }, "vm: open /nonexistent/disk.img: no such file or directory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := fakeFirmware(t, qemu)
			c.Disk = disk
			tc.edit(&c)
			v, err := Start(c)
			if err == nil {
				v.Kill()
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %q, want it to start with %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(c.TempDir); len(ents) != 0 {
				t.Errorf("temporary files left: %v", ents)
			}
		})
	}
}

// TestProbeDecision runs the probe against fake QEMUs acting out what
// QEMU does under a working and a broken KVM.
func TestProbeDecision(t *testing.T) {
	defer func(d string) { kvmDevice = d }(kvmDevice)
	kvmDevice = os.DevNull
	c := fakeFirmware(t, "")
	for _, tc := range []struct {
		name, script string
		usable       bool
		reason       string
	}{
		{"firmware output", `printf '\033[2J'; exec sleep 600`, true, "the firmware ran"},
		{"KVM internal error, guest paused", `echo 'KVM internal error. Suberror: 1' >&2; echo 'extra data[0]: 0x1' >&2; exec sleep 600`, false, "the guest died: KVM internal error"},
		{"QEMU aborts", `echo 'qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69' >&2; kill -ABRT $$`, false, "the probe guest exited (signal: aborted): error: failed to set MSR 0x10a to 0x69"},
		{"QEMU fails", `exit 1`, false, "the probe guest exited (exit status 1): no message"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := ProbeKVM(fakeQEMU(t, tc.script), c.FirmwareCode, c.FirmwareVars)
			if p.Usable != tc.usable || p.Reason != tc.reason {
				t.Errorf("probe %+v, want usable %v, reason %q", p, tc.usable, tc.reason)
			}
			if p.Took > 5*time.Second {
				t.Errorf("the probe took %v", p.Took)
			}
		})
	}
	kvmDevice = filepath.Join(t.TempDir(), "no-kvm")
	if p := ProbeKVM(fakeQEMU(t, "exit 0"), c.FirmwareCode, c.FirmwareVars); p.Usable || !strings.Contains(p.Reason, "no-kvm: no such file or directory") {
		t.Errorf("probe without /dev/kvm: %+v", p)
	}
}

func TestProbeCached(t *testing.T) {
	defer func(d string) { kvmDevice = d }(kvmDevice)
	kvmDevice = os.DevNull
	c := fakeFirmware(t, "")
	count := filepath.Join(t.TempDir(), "count")
	qemu := fakeQEMU(t, `echo run >> `+count+`; echo x; exec sleep 600`)
	for range 3 {
		if p := probeKVMCached(qemu, c.FirmwareCode, c.FirmwareVars); !p.Usable {
			t.Fatalf("probe %+v", p)
		}
	}
	if b, _ := os.ReadFile(count); string(b) != "run\n" {
		t.Errorf("the probe ran %d times, want once", strings.Count(string(b), "run"))
	}
}
