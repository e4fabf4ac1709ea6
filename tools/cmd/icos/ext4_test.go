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

func ext4Tar(t *testing.T, link string) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "boot/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "boot/cfg", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
		{Name: "run/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 2},
		{Name: "l", Typeflag: tar.TypeLink, Linkname: link},
	} {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write([]byte("hi"))
		}
	}
	tw.Close()
	p := filepath.Join(t.TempDir(), "in.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestExt4Command(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "root.img")
	fc := filepath.Join(dir, "file_contexts")
	os.WriteFile(fc, []byte("/.* system_u:object_r:default_t:s0\n"), 0o644)
	err := newApp().Run([]string{"icos", "ext4", "--input", ext4Tar(t, "boot/cfg"), "--output", out,
		"--size", "8M", "--strip", "run,boot", "--label", "root", "--mtime", "0",
		"--uuid", "01234567-89ab-cdef-0123-456789abcdef", "--hash-seed", "fedcba98-7654-3210-fedc-ba9876543210",
		"--file-contexts", fc})
	if err == nil || !strings.Contains(err.Error(), `"l"`) {
		t.Fatalf("hard link into a stripped dir: err = %v, want an error naming the entry", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("failed build left files behind: %v", ents)
	}
	err = newApp().Run([]string{"icos", "ext4", "--input", ext4Tar(t, "run/x"), "--output", out,
		"--size", "8M", "--strip", "boot", "--label", "root", "--mtime", "0", "--file-contexts", fc, "--journal"})
	if err != nil {
		t.Fatal(err)
	}
	fsck := testutil.Tool(t, "e2fsck", "e2fsprogs")
	if b, err := exec.Command(fsck, "-fn", out).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, b)
	}
	if fi, err := os.Stat(out); err != nil || fi.Size() != 8<<20 {
		t.Errorf("output: %v, size %d", err, fi.Size())
	}
	// A --subdir the tar does not have would give an empty filesystem.
	in, sub := ext4Tar(t, "run/x"), filepath.Join(dir, "sub.img")
	err = newApp().Run([]string{"icos", "ext4", "--input", in, "--output", sub, "--size", "8M", "--subdir", "efi"})
	if err == nil || !strings.Contains(err.Error(), in) || !strings.Contains(err.Error(), `subdir not in the tar: no entry is "efi"`) {
		t.Errorf("--subdir efi: err = %v, want it to name the input and the subdir", err)
	}
	if _, err := os.Stat(sub); err == nil {
		t.Errorf("--subdir efi: failed build left %s behind", sub)
	}
	for _, bad := range [][]string{{"--size", "12Q"}, {"--uuid", "nope"}, {"--mtime", "-1"}} {
		args := append([]string{"icos", "ext4", "--input", "x", "--output", out, "--size", "8M"}, bad...)
		if err := newApp().Run(args); err == nil || !strings.Contains(err.Error(), bad[0]) {
			t.Errorf("%v: err = %v, want it to name %s", bad, err, bad[0])
		}
	}
}

func TestExt4Verity(t *testing.T) {
	veritysetup := testutil.Tool(t, "veritysetup", "cryptsetup-bin")
	e2fsck := testutil.Tool(t, "e2fsck", "e2fsprogs")
	const salt, uuid = "00112233445566778899aabbccddeeff", "6a8e2c5d-1f3b-4c7e-9a0d-2b4f6e8a1c3e"
	dir := t.TempDir()
	in := ext4Tar(t, "boot/cfg")
	args := func(out, root string, extra ...string) []string {
		return append([]string{"icos", "ext4", "--input", in, "--output", out, "--size", "8M", "--label", "root", "--mtime", "0",
			"--verity-salt", salt, "--verity-uuid", uuid, "--verity-root-hash", root}, extra...)
	}
	out, root := filepath.Join(dir, "root.img"), filepath.Join(dir, "root.hash")
	if err := newApp().Run(args(out, root)); err != nil {
		t.Fatal(err)
	}
	hash, err := os.ReadFile(root)
	if err != nil {
		t.Fatal(err)
	}
	// 8 MiB of data: 2048 blocks, 16 + 1 hash blocks, one superblock block.
	if st, _ := os.Stat(out); st.Size() != 8<<20+18*4096 {
		t.Errorf("size %d, want the filesystem plus 18 blocks", st.Size())
	}
	if b, err := exec.Command(veritysetup, "verify", out, out, strings.TrimSpace(string(hash)), "--hash-offset", "8388608").CombinedOutput(); err != nil {
		t.Fatalf("veritysetup verify: %v\n%s", err, b)
	}
	if b, err := exec.Command(veritysetup, "dump", out, "--hash-offset", "8388608").CombinedOutput(); err != nil ||
		!strings.Contains(string(b), uuid) || !strings.Contains(string(b), salt) || !strings.Contains(string(b), "Data blocks:     \t2048") {
		t.Errorf("veritysetup dump: %v\n%s", err, b)
	}
	fs := filepath.Join(dir, "fs.img")
	if b, err := os.ReadFile(out); err == nil {
		os.WriteFile(fs, b[:8<<20], 0o644)
	}
	if b, err := exec.Command(e2fsck, "-fn", fs).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn on the filesystem part: %v\n%s", err, b)
	}
	// The same bytes again, compressed this time, from another directory.
	dir2 := t.TempDir()
	out2, root2 := filepath.Join(dir2, "root.img.zst"), filepath.Join(dir2, "root.hash")
	if err := newApp().Run(args(out2, root2)); err != nil {
		t.Fatal(err)
	}
	if h2, _ := os.ReadFile(root2); !bytes.Equal(h2, hash) {
		t.Errorf("root hash %q, then %q", hash, h2)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"icos", "ext4", "--input", in, "--output", out, "--size", "8M", "--verity-uuid", uuid}, "--verity-uuid needs --verity-salt"},
		{args(out, "")[:len(args(out, ""))-2], "--verity-salt needs --verity-uuid and --verity-root-hash"},
		{append(args(out, root)[:12], "--verity-salt", "xyz"), `--verity-salt "xyz": not hexadecimal`},
	} {
		dir := t.TempDir()
		tc.args[5] = filepath.Join(dir, "x.img")
		err := newApp().Run(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want %q", tc.args[6:], err, tc.want)
		}
		if ents, _ := os.ReadDir(dir); len(ents) != 0 {
			t.Errorf("%v: left %v behind", tc.args[6:], ents)
		}
	}
}
