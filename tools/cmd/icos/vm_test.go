package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestVMRun runs icos vm run with a fake QEMU that records its arguments
// and exits with status 3.
func TestVMRun(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	argsFile := filepath.Join(dir, "args")
	qemu := write("qemu", "#!/bin/sh\nprintf '%s\\n' \"$@\" > "+argsFile+"\nexit 3\n", 0o755)
	disk := write("disk.img", strings.Repeat("\x00", 4096), 0o644)
	cfg := write("config.img", "", 0o644)
	code := write("CODE.fd", "code", 0o644)
	vars := write("VARS.fd", "vars", 0o644)
	tmp := filepath.Join(dir, "tmp")
	os.Mkdir(tmp, 0o755)

	var stderr bytes.Buffer
	status := 0
	app := newApp()
	app.ErrWriter = &stderr
	app.ExitErrHandler = func(_ *cli.Context, err error) {
		if ec, ok := err.(cli.ExitCoder); ok {
			status = ec.ExitCode()
		}
	}
	err := app.Run([]string{"icos", "vm", "run", "--disk", disk, "--qemu", qemu, "--ovmf-code", code, "--ovmf-vars", vars,
		"--tmpdir", tmp, "--accel", "tcg", "--memory", "1G", "--cpus", "3", "--no-reboot",
		"--drive", "usb:config:" + cfg, "--forward", "tcp:2222:22", "--forward", "tcp:8080:80"})
	if status != 3 {
		t.Errorf("exit status %d (error %v), want QEMU's 3", status, err)
	}
	b, err := os.ReadFile(argsFile)
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Fields(string(b))
	for _, want := range []string{
		"-accel tcg -cpu max -m 1024M -smp 3",
		"-device usb-storage,bus=xhci.0,drive=drive0,serial=config",
		"if=none,id=drive0,format=raw,file=" + cfg + ",snapshot=on",
		"user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=tcp:127.0.0.1:8080-:80",
		"-serial mon:stdio -no-reboot",
	} {
		if !strings.Contains(strings.Join(args, " "), want) {
			t.Errorf("QEMU arguments %q lack %q", args, want)
		}
	}
	if !strings.Contains(stderr.String(), "icos vm run: tcg, working disk in "+tmp+"/icos-vm-") || !strings.Contains(stderr.String(), "Ctrl-A X quits") {
		t.Errorf("stderr %q", stderr.String())
	}
	if ents, _ := os.ReadDir(tmp); len(ents) != 0 {
		t.Errorf("the working directory was left: %v", ents)
	}
}

func TestVMRunErrors(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	os.WriteFile(img, nil, 0o644)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "icos vm run: give --disk, or --keep DIR holding the working disk of an earlier run"},
		{[]string{"--disk", img, "--memory", "2X"}, "icos vm run: --memory: "},
		{[]string{"--disk", img, "--memory", "1000K"}, "icos vm run: memory 1000K: want a positive multiple of 1 MiB"},
		{[]string{"--disk", img, "--cpus", "0"}, "icos vm run: --cpus 0: want at least 1"},
		{[]string{"--disk", img, "--accel", "xen"}, `icos vm run: --accel: accelerator "xen": want auto, kvm or tcg`},
		{[]string{"--disk", img, "--drive", "sata:a:b"}, `icos vm run: --drive: drive b: interface "sata": want usb, nvme or virtio`},
		{[]string{"--disk", img, "--drive", "usb"}, `icos vm run: --drive: drive "usb": want INTERFACE:SERIAL:FILE`},
		{[]string{"--disk", img, "--forward", "tcp:22"}, `icos vm run: --forward: forward "tcp:22": want tcp:HOSTPORT:GUESTPORT`},
		{[]string{"--disk", img, "--qemu", "icos-no-such-qemu"}, "icos vm run: icos-no-such-qemu not found (install the Debian package qemu-system-x86)"},
		{[]string{"--disk", img, "--ovmf-code", filepath.Join(dir, "nope.fd")}, "icos vm run: firmware (install the Debian package ovmf): stat "},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			err := newApp().Run(append([]string{"icos", "vm", "run", "--qemu", "sh"}, tc.args...))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want it to start with %q", err, tc.want)
			}
		})
	}
}
