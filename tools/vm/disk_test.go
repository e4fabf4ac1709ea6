package vm

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/icos-build/icos/tools/pack"
	"github.com/icos-build/icos/tools/zst"
)

// sparseDisk writes a 64 MiB file with data at a few places and holes
// elsewhere.
func sparseDisk(t *testing.T, path string) []byte {
	t.Helper()
	want := make([]byte, 64<<20)
	copy(want, "EFI PART")
	copy(want[1<<20:], bytes.Repeat([]byte{0xAB}, 5000))
	copy(want[len(want)-4096:], "backup GPT")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, r := range [][2]int{{0, 4096}, {1 << 20, 1<<20 + 8192}, {len(want) - 4096, len(want)}} {
		if _, err := f.WriteAt(want[r[0]:r[1]], int64(r[0])); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(int64(len(want))); err != nil {
		t.Fatal(err)
	}
	return want
}

// allocated returns the bytes allocated to the file at path.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Blocks * 512
}

// writeTar writes a tar (zstd-compressed if compress) of the given entries.
func writeTar(t *testing.T, path string, compress bool, entries map[string][]byte, order ...string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range order {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(entries[name])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(entries[name])
	}
	tw.Close()
	b := buf.Bytes()
	if compress {
		var z bytes.Buffer
		w, err := zst.NewWriter(&z, zst.Options{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		b = z.Bytes()
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestCopyDisk(t *testing.T) {
	dir := t.TempDir()
	raw := filepath.Join(dir, "disk.img")
	want := sparseDisk(t, raw)
	archive := filepath.Join(dir, "disk-img.tar.zst")
	if err := pack.Pack(archive, []string{raw}, pack.Options{}); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "disk-img.tar")
	writeTar(t, plain, false, map[string][]byte{"disk.img": want}, "disk.img")
	for _, src := range []string{archive, plain, raw} {
		t.Run(filepath.Base(src), func(t *testing.T) {
			dst := filepath.Join(t.TempDir(), "work.img")
			if err := CopyDisk(dst, src); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("the copy differs from the disk")
			}
			if a := allocated(t, dst); a > 1<<20 {
				t.Errorf("the copy has %d bytes allocated: not sparse", a)
			}
		})
	}
}

func TestCopyDiskErrors(t *testing.T) {
	dir := t.TempDir()
	path := func(n string) string { return filepath.Join(dir, n) }
	writeTar(t, path("other.tar.zst"), true, map[string][]byte{"boot.img": []byte("x")}, "boot.img")
	writeTar(t, path("two.tar.zst"), true, map[string][]byte{"disk.img": []byte("x"), "root.img": []byte("y")}, "disk.img", "root.img")
	writeTar(t, path("empty.tar"), false, nil)
	writeTar(t, path("good.tar.zst"), true, map[string][]byte{"disk.img": make([]byte, 100000)}, "disk.img")
	good, err := os.ReadFile(path("good.tar.zst"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path("cut.tar.zst"), good[:len(good)-5], 0o644)
	os.Mkdir(path("dir"), 0o755)
	for _, tc := range []struct{ src, want string }{
		{"other.tar.zst", `archive entry "boot.img": want a regular file disk.img`},
		{"two.tar.zst", `archive entry "root.img" after disk.img: want disk.img alone`},
		{"empty.tar", ``}, // an empty tar has no ustar header: it is a raw image of zeros
		{"cut.tar.zst", "zst: "},
		{"dir", "not a regular file"},
		{"missing", "no such file or directory"},
	} {
		dst := filepath.Join(dir, "out", tc.src+".img")
		os.MkdirAll(filepath.Dir(dst), 0o755)
		err := CopyDisk(dst, path(tc.src))
		if tc.want == "" {
			if err != nil {
				t.Errorf("%s: %v", tc.src, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "vm: ") || strings.Contains(err.Error(), "vm: vm:") {
			t.Errorf("%s: error %v, want one with %q", tc.src, err, tc.want)
		}
		if _, serr := os.Stat(dst); serr == nil {
			t.Errorf("%s: the failed copy left %s", tc.src, dst)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "out")); len(ents) != 1 {
		t.Errorf("out holds %d files, want only the empty tar's copy", len(ents))
	}
}
