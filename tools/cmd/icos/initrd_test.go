package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// writeRootfsTar writes a small rootfs tar with one kernel's dm-verity
// modules; config is its boot/config.
func writeRootfsTar(t *testing.T, name, config string) {
	t.Helper()
	m := "usr/lib/modules/6.1.0-57-amd64/"
	entries := []struct{ name, body string }{
		{"boot/", ""},
		{"boot/config-6.1.0-57-amd64", config},
		{"usr/", ""}, {"usr/lib/", ""}, {"usr/lib/modules/", ""}, {m, ""}, {m + "kernel/", ""},
		{m + "kernel/drivers/md/dm-bufio.ko", "bufio"},
		{m + "kernel/drivers/md/dm-mod.ko", "mod"},
		{m + "kernel/drivers/md/dm-verity.ko", "verity"},
		{m + "kernel/lib/reed_solomon/reed_solomon.ko", "rs"},
		{m + "modules.dep", "kernel/lib/reed_solomon/reed_solomon.ko:\nkernel/drivers/md/dm-mod.ko:\n" +
			"kernel/drivers/md/dm-bufio.ko: kernel/drivers/md/dm-mod.ko\n" +
			"kernel/drivers/md/dm-verity.ko: kernel/drivers/md/dm-bufio.ko kernel/drivers/md/dm-mod.ko kernel/lib/reed_solomon/reed_solomon.ko\n"},
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if strings.HasSuffix(e.name, "/") {
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		}
		tw.WriteHeader(h)
		tw.Write([]byte(e.body))
	}
	tw.Close()
	if err := os.WriteFile(name, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestInitrdCommand(t *testing.T) {
	dir := t.TempDir()
	rootfs, noZstd, bin, notELF := filepath.Join(dir, "rootfs.tar"), filepath.Join(dir, "nozstd.tar"), filepath.Join(dir, "icos-node"), filepath.Join(dir, "script")
	writeRootfsTar(t, rootfs, "CONFIG_RD_ZSTD=y\n")
	writeRootfsTar(t, noZstd, "# CONFIG_RD_ZSTD is not set\n")
	os.WriteFile(bin, []byte("\x7fELF static"), 0o755)
	os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755)
	inputs := 4
	out := filepath.Join(dir, "icos-initrd.img")
	args := func(extra ...string) []string {
		return append([]string{"--rootfs", rootfs, "--kernel-modules", "dm-verity", "--binary", bin, "-o", out}, extra...)
	}
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"ok", args("--mtime", "1700000000"), ""},
		{"zstd", args("--zstd"), ""},
		{"zstd not supported", []string{"--rootfs", noZstd, "--kernel-modules", "dm-verity", "--binary", bin, "-o", out, "--zstd"},
			"icos initrd: --zstd: the kernel 6.1.0-57-amd64 cannot unpack it: no CONFIG_RD_ZSTD=y"},
		{"unknown module", args("--kernel-modules", "zfs"), `icos initrd: --rootfs ` + rootfs + `: initrd: kernel module "zfs" not in modules.dep`},
		{"not ELF", []string{"--rootfs", rootfs, "--kernel-modules", "dm-verity", "--binary", notELF, "-o", out}, "icos initrd: --binary " + notELF + ": not an ELF executable"},
		{"no rootfs", []string{"--rootfs", filepath.Join(dir, "none"), "--kernel-modules", "dm-verity", "--binary", bin, "-o", out}, "icos initrd: --rootfs: open "},
		{"bad mtime", args("--mtime", "-1"), "icos initrd: --mtime -1: want 0 to 4294967295"},
		{"stray argument", args("x"), `icos initrd: unexpected arguments ["x"]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			app := newApp()
			app.ErrWriter = &bytes.Buffer{}
			err := app.Run(append([]string{"icos", "initrd"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want it to start with %q", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(dir); len(ents) != inputs {
					t.Fatalf("%d files in the directory after an error, want the %d inputs", len(ents), inputs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "zstd" {
				if _, err := exec.LookPath("zstd"); err != nil {
					t.Skip("zstd not installed")
				}
				cmd := exec.Command("zstd", "-dc")
				cmd.Stdin = bytes.NewReader(b)
				if b, err = cmd.Output(); err != nil {
					t.Fatalf("zstd -d: %v", err)
				}
			}
			if !bytes.HasPrefix(b, []byte("070701")) || !bytes.Contains(b, []byte("usr/lib/icos/icos-node\x00")) ||
				!bytes.Contains(b, []byte("scripts/local-top/ORDER\x00")) || !bytes.Contains(b, []byte("TRAILER!!!\x00")) {
				t.Fatalf("not the expected newc archive: %q...", b[:min(len(b), 200)])
			}
		})
	}
}

// TestInitrdEnvironment: the image and its mode depend on neither the time
// zone, the umask nor the temporary directory.
func TestInitrdEnvironment(t *testing.T) {
	dir := t.TempDir()
	rootfs, bin := filepath.Join(dir, "rootfs.tar"), filepath.Join(dir, "icos-node")
	writeRootfsTar(t, rootfs, "CONFIG_RD_ZSTD=y\n")
	os.WriteFile(bin, []byte("\x7fELF static"), 0o755)
	run := func(tz string, umask int) ([]byte, os.FileMode) {
		t.Setenv("TZ", tz)
		t.Setenv("TMPDIR", t.TempDir())
		old := syscall.Umask(umask)
		defer syscall.Umask(old)
		out := filepath.Join(t.TempDir(), "icos-initrd.img")
		app := newApp()
		app.ErrWriter = &bytes.Buffer{}
		if err := app.Run([]string{"icos", "initrd", "--rootfs", rootfs, "--kernel-modules", "dm-verity",
			"--binary", bin, "--output", out, "--mtime", "86400"}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		st, err := os.Stat(out)
		if err != nil {
			t.Fatal(err)
		}
		return b, st.Mode()
	}
	b1, m1 := run("UTC", 0o022)
	b2, m2 := run("Pacific/Chatham", 0o077)
	if !bytes.Equal(b1, b2) || m1 != m2 || m1 != 0o644 {
		t.Errorf("outputs differ: modes %v and %v (want -rw-r--r--), same bytes: %v", m1, m2, bytes.Equal(b1, b2))
	}
}
