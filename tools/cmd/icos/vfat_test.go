package main

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

func vfatTar(t *testing.T, path string, hs ...*tar.Header) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hs {
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(bytes.Repeat([]byte{'x'}, int(h.Size)))
	}
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// vfatLeftovers lists the files of dir (to check that a failed run leaves
// neither the output nor a temporary file).
func vfatLeftovers(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestVfatCommand(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.tar")
	vfatTar(t, good,
		&tar.Header{Name: "EFI/", Typeflag: tar.TypeDir},
		&tar.Header{Name: "EFI/BOOT/BOOTX64.EFI", Typeflag: tar.TypeReg, Size: 3000},
		&tar.Header{Name: "grub.cfg", Typeflag: tar.TypeReg, Size: 10},
	)
	hostile := filepath.Join(dir, "hostile.tar")
	vfatTar(t, hostile,
		&tar.Header{Name: "ok.txt", Typeflag: tar.TypeReg, Size: 10},
		&tar.Header{Name: "../../etc/passwd", Typeflag: tar.TypeReg, Size: 10},
	)
	symlink := filepath.Join(dir, "symlink.tar")
	vfatTar(t, symlink,
		&tar.Header{Name: "ok.txt", Typeflag: tar.TypeReg, Size: 10},
		&tar.Header{Name: "EFI/link", Typeflag: tar.TypeSymlink, Linkname: "/boot"},
	)
	big := filepath.Join(dir, "big.tar")
	vfatTar(t, big, &tar.Header{Name: "big.bin", Typeflag: tar.TypeReg, Size: 3 << 20})
	src := filepath.Join(dir, "src.txt")
	os.WriteFile(src, []byte("config\n"), 0o600)
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	out := filepath.Join(outDir, "esp.img")

	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"tar", []string{"-i", good, "--size", "100M", "--label", "ESP", "--serial", "0x12345678"}, ""},
		{"files", []string{"--size", "50M", "--fat", "32", "--label", "CONFIG", "--file", src + ":/config.ini:0644", "--file", src + ":ssh_authorized_keys/admin:0444"}, ""},
		{"hostile", []string{"-i", hostile, "--size", "1M"}, `"../../etc/passwd"`},
		{"symlink", []string{"-i", symlink, "--size", "1M"}, `"EFI/link": symlinks`},
		{"too big", []string{"-i", big, "--size", "2M"}, "it needs 3145728 bytes (1536 clusters of 2048 bytes: 1536 for file data, 0 for directories) but the 2097152-byte FAT12 image has room for 2076672 bytes"},
		{"forced type too small", []string{"-i", good, "--size", "8M", "--fat", "32"}, "cannot hold a valid FAT32 volume"},
		{"odd size", []string{"-i", good, "--size", "1000"}, "multiple of 512"},
		{"bad size", []string{"-i", good, "--size", "12X"}, `size "12X"`},
		{"lower-case label", []string{"-i", good, "--size", "1M", "--label", "esp"}, "lower-case"},
		{"bad serial", []string{"-i", good, "--size", "1M", "--serial", "xyz"}, `--serial "xyz"`},
		{"both inputs", []string{"--size", "1M", "-i", good, "--file", src + ":a"}, "either --input or --file"},
		{"bad file spec", []string{"--size", "1M", "--file", src}, "SRC:DST[:MODE]"},
		{"bad mode", []string{"--size", "1M", "--file", src + ":a:rw"}, "not an octal file mode"},
		{"hostile dst", []string{"--size", "1M", "--file", src + ":../x"}, `".."`},
		{"missing src", []string{"--size", "1M", "--file", filepath.Join(dir, "nope") + ":a"}, "nope"},
		{"stray argument", []string{"-i", good, "--size", "1M", "extra"}, "unexpected arguments"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			err := newApp().Run(append([]string{"icos", "vfat", "-o", out}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
				}
				if left := vfatLeftovers(t, outDir); len(left) != 0 {
					t.Fatalf("failed run left %q behind", left)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if b, err := exec.Command(testutil.Tool(t, "fsck.vfat", "dosfstools"), "-n", out).CombinedOutput(); err != nil {
				t.Fatalf("fsck.vfat -n: %v\n%s", err, b)
			}
		})
	}
	// The last successful run was "files": modes map to the read-only
	// attribute, parents are created.
	os.Remove(out)
	if err := newApp().Run([]string{"icos", "vfat", "-o", out, "--size", "50M", "--fat", "32", "--label", "CONFIG",
		"--file", src + ":/config.ini:0644", "--file", src + ":ssh_authorized_keys/admin:0444"}); err != nil {
		t.Fatal(err)
	}
	attrs, err := exec.Command(testutil.Tool(t, "mattrib", "mtools"), "-/", "-i", out, "::/").CombinedOutput()
	if err != nil {
		t.Fatalf("mattrib: %v\n%s", err, attrs)
	}
	for _, want := range []string{"  A          ::/config.ini\n", "  A    R     ::/ssh_authorized_keys/admin\n"} {
		if !strings.Contains(string(attrs), want) {
			t.Errorf("mattrib output lacks %q:\n%s", want, attrs)
		}
	}
	if b, err := exec.Command(testutil.Tool(t, "mtype", "mtools"), "-i", out, "::/ssh_authorized_keys/admin").Output(); err != nil || string(b) != "config\n" {
		t.Errorf("mtype: %q, %v", b, err)
	}
	if st, _ := os.Stat(out); st.Size() != 50<<20 || st.Mode().Perm() != 0o644 {
		t.Errorf("output: size %d, mode %v", st.Size(), st.Mode())
	}
}

// TestSizeFlags: every flag taking a size reads it with package size (one
// grammar: plain bytes, s, K..T, KiB..TiB) and names the flag in errors.
func TestSizeFlags(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "img")
	csv := filepath.Join(dir, "p.csv")
	if err := os.WriteFile(csv, []byte("a,,1M,L,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vcsv := filepath.Join(dir, "v.csv")
	if err := os.WriteFile(vcsv, []byte("a,,1e,SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	in := filepath.Join(dir, "in.tar")
	vfatTar(t, in, &tar.Header{Name: "f", Typeflag: tar.TypeReg, Size: 5})
	lvm := []string{"lvm", "--volumes", vcsv, "--output", out, "--vg-name", "vg",
		"--vg-uuid", "Y9Tqbl-20VK-Yapy-Gax6-8Lzf-DcH2-tr2Ynq", "--pv-uuid", "ABCDEFghijklmnopqrstuvwxyz012345"}
	for _, tc := range []struct {
		args     []string
		wantErr  string
		wantSize int64
	}{
		{[]string{"ext4", "--input", "-", "--output", out, "--size", "-16M"}, `--size: size "-16M": negative`, 0},
		{[]string{"ext4", "--input", "-", "--output", out, "--size", "1.5G"}, `--size: size "1.5G": fractions are not allowed`, 0},
		{[]string{"ext4", "--input", "-", "--output", out, "--size", "16MB"}, `--size: size "16MB": decimal unit MB is not accepted; write M or MiB`, 0},
		{[]string{"disk", "--partitions", csv, "--output", out, "--size", "-1"}, `--size: size "-1": negative`, 0},
		{[]string{"disk", "--partitions", csv, "--output", out, "--size", "1 M"}, `--size: size "1 M": contains a blank`, 0},
		{[]string{"vfat", "--output", out, "--size", "1X"}, `--size: size "1X": unknown unit "X"`, 0},
		{[]string{"vfat", "--output", out, "--size", "16M", "--cluster-size", "4KB"}, `--cluster-size: size "4KB": decimal unit KB`, 0},
		{[]string{"vfat", "--output", out, "--size", "2T"}, "size 2199023255552 is larger than the FAT limit of 2199023255040 bytes", 0},
		{append(lvm, "--size", ""), `--size: size "": empty`, 0},
		{[]string{"disk", "--partitions", csv, "--output", out, "--size", "4194304"}, "", 4 << 20},
		{[]string{"disk", "--partitions", csv, "--output", out, "--size", "8192s"}, "", 4 << 20},
		{[]string{"disk", "--partitions", csv, "--output", out, "--size", "4MiB"}, "", 4 << 20},
		{[]string{"vfat", "--output", out, "--size", "1m", "--cluster-size", "1024"}, "", 1 << 20},
		{[]string{"vfat", "--output", out, "--size", "2048s"}, "", 1 << 20},
		{[]string{"ext4", "--input", in, "--output", out, "--size", "16m"}, "", 16 << 20},
		{[]string{"ext4", "--input", in, "--output", out, "--size", "16777216"}, "", 16 << 20},
		{append(lvm, "--size", "6MiB"), "", 6 << 20},
	} {
		os.Remove(out)
		err := newApp().Run(append([]string{"icos"}, tc.args...))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%v: err = %v, want it to contain %q", tc.args, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.args, err)
			continue
		}
		if st, err := os.Stat(out); err != nil || st.Size() != tc.wantSize {
			t.Errorf("%v: output %v, %v; want %d bytes", tc.args, st, err, tc.wantSize)
		}
	}
	os.Remove(out)
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("left files behind: %v", ents)
	}
}

// TestVfatDeterminism runs the command in two processes with different TZ,
// umask and temporary directories and compares the images.
func TestVfatDeterminism(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.tar")
	vfatTar(t, in,
		&tar.Header{Name: "EFI/BOOT/BOOTX64.EFI", Typeflag: tar.TypeReg, Size: 70000},
		&tar.Header{Name: "Some Long Name.cfg", Typeflag: tar.TypeReg, Size: 5},
		&tar.Header{Name: "lower.txt", Typeflag: tar.TypeReg, Size: 5, Mode: 0o444},
	)
	var imgs [][]byte
	for _, env := range []testutil.Env{{TZ: "UTC", Umask: 0o022}, {TZ: "Asia/Kolkata", Umask: 0o077}} {
		out := filepath.Join(t.TempDir(), "esp.img")
		b := testutil.Rerun(t, "TestVfatHelper", env, out,
			[]string{"-i", in, "-o", out, "--size", "20M", "--label", "ESP", "--serial", "0xABCD1234", "--mtime", "1700000000"})
		if st, _ := os.Stat(out); st.Mode().Perm() != 0o644 {
			t.Errorf("output mode %v under %v", st.Mode(), env)
		}
		imgs = append(imgs, b)
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Fatal("two runs produced different images")
	}
}

// TestVfatHelper is the child process of TestVfatDeterminism; it does
// nothing in a normal test run.
func TestVfatHelper(t *testing.T) {
	var args []string
	if !testutil.HelperArgs(t, &args) {
		return
	}
	if err := newApp().Run(append([]string{"icos", "vfat"}, args...)); err != nil {
		t.Fatal(err)
	}
}

// TestVfatEmpty: with neither --input nor --file, icos vfat makes an empty
// filesystem that fsck.vfat accepts; with both it refuses.
func TestVfatEmpty(t *testing.T) {
	fsck := testutil.Tool(t, "fsck.vfat", "dosfstools")
	dir := t.TempDir()
	img := filepath.Join(dir, "esp.img")
	if err := newApp().Run([]string{"icos", "vfat", "-o", img, "--size", "8M", "--label", "ESP"}); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(fsck, "-n", img).CombinedOutput(); err != nil {
		t.Fatalf("fsck.vfat -n: %v\n%s", err, out)
	}
	both := []string{"icos", "vfat", "-o", filepath.Join(dir, "x.img"), "--size", "8M", "-i", img, "--file", img + ":a"}
	if err := newApp().Run(both); err == nil || !strings.Contains(err.Error(), "not both") {
		t.Fatalf("--input with --file: %v", err)
	}
}
