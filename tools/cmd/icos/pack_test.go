package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/icos-build/icos/tools/zst"
)

func TestPackCommand(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "raw.img")
	data := make([]byte, 1<<20)
	copy(data[512<<10:], "partition table and more")
	if err := os.WriteFile(img, data, 0o644); err != nil {
		t.Fatal(err)
	}
	outDir := filepath.Join(dir, "out")
	os.Mkdir(outDir, 0o755)
	out := filepath.Join(outDir, "disk-img.tar.zst")
	tests := []struct {
		name    string
		args    []string
		wantErr string
		entry   string
	}{
		{"ok", []string{"--output", out, "--level", "5", "--name-in-tar", "disk.img", "--mtime", "42", img}, "", "disk.img"},
		{"base name", []string{"-o", out, img}, "", "raw.img"},
		{"no files", []string{"-o", out}, "no input files", ""},
		{"bad level", []string{"-o", out, "--level", "0", img}, "level", ""},
		{"missing", []string{"-o", out, filepath.Join(dir, "nope")}, "nope", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			os.Remove(out + ".sha256")
			err := newApp().Run(append([]string{"icos", "pack"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
					t.Fatalf("output left behind after an error: %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			z, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(z)
			line, _ := os.ReadFile(out + ".sha256")
			if string(line) != hex.EncodeToString(sum[:])+"  disk-img.tar.zst\n" {
				t.Fatalf("checksum file %q", line)
			}
			dec, err := zstd.NewReader(bytes.NewReader(z))
			if err != nil {
				t.Fatal(err)
			}
			defer dec.Close()
			tr := tar.NewReader(dec)
			h, err := tr.Next()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(tr)
			if h.Name != tc.entry || !bytes.Equal(got, data) {
				t.Fatalf("entry %q, contents equal: %v", h.Name, bytes.Equal(got, data))
			}
			if tc.name == "ok" && h.ModTime.Unix() != 42 {
				t.Fatalf("mtime %d", h.ModTime.Unix())
			}
		})
	}
}

// TestPackZstInput packs a .zst input: it is stored decompressed, under
// its name without ".zst", and GNU tar extracts the original bytes.
func TestPackZstInput(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 2<<20)
	copy(data[1<<20:], "root filesystem")
	raw := filepath.Join(dir, "raw")
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := compressFile(raw, filepath.Join(dir, "root.img.zst"), zst.DefaultLevel); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "update-img.tar.zst")
	if err := newApp().Run([]string{"icos", "pack", "-o", out, filepath.Join(dir, "root.img.zst")}); err != nil {
		t.Fatal(err)
	}
	x := filepath.Join(dir, "x")
	os.Mkdir(x, 0o755)
	if b, err := exec.Command("tar", "--zstd", "-xf", out, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar: %v: %s", err, b)
	}
	got, err := os.ReadFile(filepath.Join(x, "root.img"))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("root.img read back wrong (%d bytes, %v)", len(got), err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 5 { // raw, root.img.zst, out, out.sha256, x
		t.Fatalf("%d entries in the output dir, want 5 (temporary files left?)", len(ents))
	}
}

// TestPackDefaultIsArchiveLevel: an image subcommand's .tar.zst output and
// icos pack of the same raw image with the default --level are the same
// bytes: both archive at zst.ArchiveLevel.
func TestPackDefaultIsArchiveLevel(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "hello.txt")
	if err := os.WriteFile(src, bytes.Repeat([]byte("hello, archive\n"), 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"direct", "raw", "packed"} {
		os.Mkdir(filepath.Join(dir, sub), 0o755)
	}
	vfat := func(out string) {
		t.Helper()
		if err := newApp().Run([]string{"icos", "vfat", "-o", out, "--size", "1M", "--file", src + ":HELLO.TXT"}); err != nil {
			t.Fatal(err)
		}
	}
	direct := filepath.Join(dir, "direct", "esp.img.tar.zst")
	vfat(direct)
	raw := filepath.Join(dir, "raw", "esp.img")
	vfat(raw)
	packed := filepath.Join(dir, "packed", "esp.img.tar.zst")
	if err := newApp().Run([]string{"icos", "pack", "-o", packed, raw}); err != nil {
		t.Fatal(err)
	}
	for _, suffix := range []string{"", ".sha256"} {
		if a, b := mustRead(t, direct+suffix), mustRead(t, packed+suffix); !bytes.Equal(a, b) {
			t.Errorf("icos vfat -o esp.img.tar.zst%s and icos pack of esp.img differ (%d and %d bytes)", suffix, len(a), len(b))
		}
	}
}
