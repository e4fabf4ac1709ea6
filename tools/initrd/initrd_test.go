package initrd

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type tarEntry struct {
	name string
	typ  byte
	body string // contents, or link target
}

func makeTar(t *testing.T, entries []tarEntry) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644}
		switch e.typ {
		case tar.TypeReg:
			h.Size = int64(len(e.body))
		case tar.TypeDir:
			h.Mode = 0o755
		default:
			h.Linkname = e.body
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

const kver = "6.1.0-57-amd64"

// rootfs is a small rootfs tar in the order icos rootfs writes.
func rootfs() []tarEntry {
	m := "usr/lib/modules/" + kver + "/"
	return []tarEntry{
		{"boot/", tar.TypeDir, ""},
		{"boot/config-" + kver, tar.TypeReg, "CONFIG_A=y\nCONFIG_RD_ZSTD=y\n"},
		{"lib", tar.TypeSymlink, "usr/lib"},
		{"usr/", tar.TypeDir, ""},
		{"usr/lib/", tar.TypeDir, ""},
		{"usr/lib/modules/", tar.TypeDir, ""},
		{m, tar.TypeDir, ""},
		{m + "kernel/", tar.TypeDir, ""},
		{m + "kernel/drivers/md/dm-bufio.ko", tar.TypeReg, "bufio"},
		{m + "kernel/drivers/md/dm-crypt.ko", tar.TypeReg, "crypt"},
		{m + "kernel/drivers/md/dm-mod.ko", tar.TypeReg, "mod"},
		{m + "kernel/drivers/md/dm-verity.ko", tar.TypeReg, "verity"},
		{m + "kernel/lib/reed_solomon/reed_solomon.ko", tar.TypeReg, "rs"},
		{m + "modules.dep", tar.TypeReg, bookwormDeps},
	}
}

func TestWrite(t *testing.T) {
	opts := Options{Modules: []string{"dm-verity"}, Binary: []byte("\x7fELF binary"), ModTime: 1700000000}
	var a, b bytes.Buffer
	info, err := Write(&a, makeTar(t, rootfs()), opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(&b, makeTar(t, rootfs()), opts); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two runs differ")
	}
	m := "/usr/lib/modules/" + kver + "/kernel/"
	wantMods := []string{m + "drivers/md/dm-mod.ko", m + "drivers/md/dm-bufio.ko", m + "lib/reed_solomon/reed_solomon.ko", m + "drivers/md/dm-verity.ko"}
	if info.KernelVersion != kver || !info.RDZstd || strings.Join(info.Modules, " ") != strings.Join(wantMods, " ") {
		t.Fatalf("info %+v", info)
	}
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("GNU cpio not installed")
	}
	list := exec.Command("cpio", "-it", "--quiet")
	list.Stdin = bytes.NewReader(a.Bytes())
	out, err := list.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := `scripts
scripts/local-top
scripts/local-top/ORDER
scripts/local-top/icos-verity-root
usr
usr/lib
usr/lib/icos
usr/lib/icos/icos-node
usr/lib/icos/verity-root.modules
usr/lib/modules
usr/lib/modules/6.1.0-57-amd64
usr/lib/modules/6.1.0-57-amd64/kernel
usr/lib/modules/6.1.0-57-amd64/kernel/drivers
usr/lib/modules/6.1.0-57-amd64/kernel/drivers/md
usr/lib/modules/6.1.0-57-amd64/kernel/drivers/md/dm-bufio.ko
usr/lib/modules/6.1.0-57-amd64/kernel/drivers/md/dm-mod.ko
usr/lib/modules/6.1.0-57-amd64/kernel/drivers/md/dm-verity.ko
usr/lib/modules/6.1.0-57-amd64/kernel/lib
usr/lib/modules/6.1.0-57-amd64/kernel/lib/reed_solomon
usr/lib/modules/6.1.0-57-amd64/kernel/lib/reed_solomon/reed_solomon.ko
`
	if string(out) != want {
		t.Fatalf("cpio -t:\n%s\nwant:\n%s", out, want)
	}
	dir := t.TempDir()
	extract := exec.Command("cpio", "-id", "--quiet")
	extract.Dir = dir
	extract.Stdin = bytes.NewReader(a.Bytes())
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for name, body := range map[string]string{
		"usr/lib/icos/icos-node":                   string(opts.Binary),
		"usr/lib/icos/verity-root.modules":         strings.Join(wantMods, "\n") + "\n",
		"scripts/local-top/icos-verity-root":       Script,
		"scripts/local-top/ORDER":                  Order,
		m[1:] + "drivers/md/dm-verity.ko":          "verity",
		m[1:] + "lib/reed_solomon/reed_solomon.ko": "rs",
	} {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || string(got) != body {
			t.Errorf("%s: %q %v, want %q", name, got, err, body)
		}
	}
	for name, perm := range map[string]os.FileMode{"usr/lib/icos/icos-node": 0o755, "scripts/local-top/icos-verity-root": 0o755, "scripts/local-top/ORDER": 0o644} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Mode().Perm() != perm {
			t.Errorf("%s: mode %v %v, want %v", name, st.Mode(), err, perm)
		}
	}
}

func TestWriteErrors(t *testing.T) {
	base := rootfs()
	without := func(name string) []tarEntry {
		var out []tarEntry
		for _, e := range base {
			if e.name != name {
				out = append(out, e)
			}
		}
		return out
	}
	m := "usr/lib/modules/" + kver + "/"
	for _, tc := range []struct {
		name    string
		entries []tarEntry
		modules []string
		want    string
	}{
		{"no kernel", []tarEntry{{"usr/", tar.TypeDir, ""}}, []string{"dm-verity"}, "initrd: rootfs: no kernel"},
		{"two kernels", append(rootfs(), tarEntry{"usr/lib/modules/6.1.0-58-amd64/", tar.TypeDir, ""}), []string{"dm-verity"},
			"initrd: rootfs: 2 kernels (6.1.0-57-amd64, 6.1.0-58-amd64), want one"},
		{"no modules.dep", without(m + "modules.dep"), []string{"dm-verity"}, "initrd: rootfs: no " + m + "modules.dep"},
		{"unknown module", base, []string{"dm-verity", "zfs"}, `initrd: kernel module "zfs" not in modules.dep (kernel 6.1.0-57-amd64)`},
		{"file missing", without(m + "kernel/lib/reed_solomon/reed_solomon.ko"), []string{"dm-verity"},
			"initrd: rootfs: module file " + m + "kernel/lib/reed_solomon/reed_solomon.ko missing"},
		{"symlink", append(without(m+"kernel/drivers/md/dm-mod.ko"), tarEntry{m + "kernel/drivers/md/dm-mod.ko", tar.TypeSymlink, "x"}), []string{"dm-verity"},
			"initrd: rootfs: " + m + "kernel/drivers/md/dm-mod.ko: not a regular file"},
		{"compressed", append(rootfs()[:13], tarEntry{m + "modules.dep", tar.TypeReg, "kernel/x.ko.xz:\n"}), []string{"x"},
			"initrd: module kernel/x.ko.xz: want an uncompressed .ko"},
		{"no modules", base, nil, "initrd: no kernel modules given"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Write(&bytes.Buffer{}, makeTar(t, tc.entries), Options{Modules: tc.modules, Binary: []byte("x")})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestOrder runs the ORDER file with sh, the script and param.conf moved
// to a temporary directory and panic replaced by a function that records
// its call: a failing script must leave ROOT on the verity target.
func TestOrder(t *testing.T) {
	for _, tc := range []struct {
		name, script, want string
	}{
		{"ok", "echo ROOT=/dev/mapper/vroot >> $CONF", "ROOT=/dev/mapper/vroot panicked="},
		{"off", "exit 0", "ROOT=PARTLABEL=A_root panicked="},
		{"fails", "exit 1", "ROOT=/dev/mapper/vroot panicked=yes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			script := filepath.Join(dir, "icos-verity-root")
			conf := filepath.Join(dir, "param.conf")
			os.WriteFile(script, []byte("#!/bin/sh\n"+tc.script+"\n"), 0o755)
			order := strings.ReplaceAll(strings.ReplaceAll(Order, ScriptPath, script), "/conf/param.conf", conf)
			prog := "panic() { panicked=yes; }\nROOT=PARTLABEL=A_root\n" + order + "echo ROOT=$ROOT panicked=$panicked\n"
			cmd := exec.Command("sh", "-c", prog)
			cmd.Env = append(os.Environ(), "CONF="+conf)
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("sh: %v", err)
			}
			if got := strings.TrimSpace(string(out)); got != tc.want {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}
