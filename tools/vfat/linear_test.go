package vfat

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// Hostile shapes of input: very deep paths and very many long names in one
// directory. Costs are checked as bytes allocated, not time.

// deepTar returns a tar of one empty file at depth levels: "a/" repeated
// levels times, then "z" (the directories are implicit).
func deepTar(t testing.TB, levels int) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: strings.Repeat("a/", levels) + "z", Typeflag: tar.TypeReg, Mode: 0o644}); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// writeTar writes an image of the tar into dir and returns AddTar's or
// Close's error.
func writeTar(t testing.TB, dir string, o Options, tarball []byte) error {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "fat.img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddTar(w, bytes.NewReader(tarball)); err != nil {
		return err
	}
	return w.Close()
}

// TestDeepPathLinear writes images with 1000 and 2000 nested directories
// (2000 is near the deepest tarpath.MaxPathLen allows): each level must
// cost a bounded number of bytes, not a copy of its whole path.
func TestDeepPathLinear(t *testing.T) {
	o := Options{Size: 8 << 20, ClusterSize: 512}
	dir := t.TempDir()
	cost := func(levels int) uint64 {
		tarball := deepTar(t, levels)
		return allocated(func() {
			if err := writeTar(t, dir, o, tarball); err != nil {
				t.Fatal(err)
			}
		})
	}
	small, big := cost(1000), cost(2000)
	perLevel := (int64(big) - int64(small)) / 1000
	t.Logf("1000 levels: %d bytes allocated, 2000 levels: %d, %d per added level", small, big, perLevel)
	if perLevel > 1500 {
		t.Errorf("each added level allocates %d bytes, want at most 1500", perLevel)
	}
	// The image is valid and the bottom file is where it should be.
	img := filepath.Join(dir, "fat.img")
	fsck(t, img)
	if out := mtool(t, "mdir", "-b", "-i", img, "::/"+strings.Repeat("a/", 2000)); !bytes.Contains(out, []byte("/z")) {
		t.Errorf("mdir does not list the bottom file:\n%.300s", out)
	}
}

// TestDeepPathRejected checks that a path longer than PATH_MAX is
// rejected at once, with a short message naming it.
func TestDeepPathRejected(t *testing.T) {
	for _, levels := range []int{2047, 40000} {
		tarball := deepTar(t, levels)
		var err error
		n := allocated(func() { err = writeTar(t, t.TempDir(), Options{Size: 8 << 20}, tarball) })
		if err == nil || !strings.Contains(err.Error(), "longer than 4094 bytes") || !strings.Contains(err.Error(), `"a/a/a/`) {
			t.Fatalf("%d levels: %.300v, want a path length error naming the entry", levels, err)
		}
		if len(err.Error()) > 400 {
			t.Errorf("%d levels: message of %d bytes", levels, len(err.Error()))
		}
		if limit := uint64(len(tarball))*4 + 1<<20; n > limit {
			t.Errorf("%d levels: %d bytes allocated, want at most %d", levels, n, limit)
		}
	}
}

// TestManyLongNamesImage writes 3,000 and 30,000 long names sharing a
// prefix into one directory (13 characters, so each takes 2 of the
// directory's 65,536 entries) and checks the images with mdir (every short
// name distinct, every long name listed) and the smaller one with
// fsck.vfat too, whose checks take time quadratic in the entries of a
// directory (26 s for 30,000). -short skips the bigger image.
func TestManyLongNamesImage(t *testing.T) {
	for _, n := range []int{3000, 30000} {
		if n > 3000 && testing.Short() {
			continue
		}
		es := []entry{{name: "d", dir: true}}
		for i := 0; i < n; i++ {
			es = append(es, entry{name: fmt.Sprintf("d/longname%05d", i)})
		}
		img, _ := build(t, t.TempDir(), Options{Size: 16 << 20}, tarOf(t, es))
		if n <= 3000 {
			fsck(t, img)
		}
		out := string(mtool(t, "mdir", "-a", "-i", img, "::/d"))
		shorts, longs := map[string]bool{}, map[string]bool{}
		for _, l := range strings.Split(out, "\n") {
			if f := strings.Fields(l); len(f) > 1 && strings.HasPrefix(f[len(f)-1], "longname") {
				shorts[f[0]], longs[f[len(f)-1]] = true, true
			}
		}
		if len(shorts) != n || len(longs) != n {
			t.Fatalf("%d names: mdir lists %d distinct short and %d long names:\n%.500s", n, len(shorts), len(longs), out)
		}
		for _, want := range []string{"LONGNA~1", "LONGN~10", "LONG~100", "LON~1000", fmt.Sprintf("%s~%d", "LONGNAME"[:7-len(fmt.Sprint(n))], n)} {
			if !shorts[want] {
				t.Errorf("%d names: mdir does not list %s", n, want)
			}
		}
	}
}
