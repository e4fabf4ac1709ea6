package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// TestCreateImage writes the same sparse-ish image to a raw, a ".zst" and a
// ".tar.zst" destination and reads each back with Debian's zstd and GNU tar.
func TestCreateImage(t *testing.T) {
	for _, tool := range []string{"zstd", "tar"} {
		testutil.Tool(t, tool, tool)
	}
	data := make([]byte, 3<<20)
	copy(data[1<<20:], bytes.Repeat([]byte("icos"), 1000))
	tests := []struct {
		name string
		read func(t *testing.T, dir, out string) []byte
	}{
		{"disk.img", func(t *testing.T, dir, out string) []byte { return mustRead(t, out) }},
		{"root.img.zst", func(t *testing.T, dir, out string) []byte {
			b, err := exec.Command("zstd", "-dc", out).Output()
			if err != nil {
				t.Fatalf("zstd -dc: %v", err)
			}
			return b
		}},
		{"disk-img.tar.zst", func(t *testing.T, dir, out string) []byte {
			x := filepath.Join(dir, "x")
			os.Mkdir(x, 0o755)
			if b, err := exec.Command("tar", "--zstd", "-xf", out, "-C", x).CombinedOutput(); err != nil {
				t.Fatalf("tar: %v: %s", err, b)
			}
			if b, err := exec.Command("sha256sum", "-c", filepath.Base(out)+".sha256").CombinedOutput(); err != nil {
				t.Fatalf("sha256sum -c: %v: %s", err, b)
			}
			return mustRead(t, filepath.Join(x, "disk-img"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			out := filepath.Join(dir, tc.name)
			o, err := createImage(out, "")
			if err != nil {
				t.Fatal(err)
			}
			defer o.Abort()
			if _, err := o.WriteAt(data, 0); err != nil {
				t.Fatal(err)
			}
			if err := o.Commit(); err != nil {
				t.Fatal(err)
			}
			if got := tc.read(t, dir, out); !bytes.Equal(got, data) {
				t.Fatalf("read back %d bytes, differ from the %d written", len(got), len(data))
			}
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				if e.Name()[0] == '.' {
					t.Errorf("temporary file %s left behind", e.Name())
				}
			}
		})
	}
}

func TestCreateImageAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	o, err := createImage(filepath.Join(dir, "root.img.zst"), "")
	if err != nil {
		t.Fatal(err)
	}
	o.Write([]byte("partial"))
	o.Abort()
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("%d files left after Abort", len(ents))
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
