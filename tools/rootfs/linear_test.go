package rootfs

import (
	"io"
	"runtime"
	"strings"
	"testing"
)

// Hostile shapes of input: very deep paths. Costs are checked as bytes
// allocated or held, not time.

// allocated returns the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// heapWatcher is an io.Writer that passes what it gets to sink (nil:
// discards it) and, every 256 writes, records the live heap (after a
// collection) above a baseline.
type heapWatcher struct {
	sink       io.Writer
	base, peak uint64
	writes     int
}

func (h *heapWatcher) sample() {
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	if m.HeapAlloc > h.base {
		h.peak = max(h.peak, m.HeapAlloc-h.base)
	}
}

func (h *heapWatcher) Write(p []byte) (int, error) {
	if h.writes++; h.writes%256 == 0 {
		h.sample()
	}
	if h.sink == nil {
		return len(p), nil
	}
	return h.sink.Write(p)
}

// deepTree returns a tree holding one empty file at depth levels ("a/"
// repeated levels times, then "z"; the directories are implicit) and the
// bytes ApplyLayer allocated.
func deepTree(t *testing.T, levels int) (*Tree, uint64) {
	t.Helper()
	layer := layerTar(t, file(strings.Repeat("a/", levels)+"z", ""))
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	n := allocated(func() {
		if err := tr.ApplyLayer(strings.NewReader(string(layer))); err != nil {
			t.Fatal(err)
		}
	})
	return tr, n
}

// TestDeepPathLinear applies layers with 1000 and 2000 nested directories
// (2000 is near the deepest tarpath.MaxPathLen allows): each level must
// cost a bounded number of bytes, not a copy of its path. Writing the tar
// necessarily produces each directory's full name, but must not hold them
// all in memory at once.
func TestDeepPathLinear(t *testing.T) {
	_, small := deepTree(t, 1000)
	tr, big := deepTree(t, 2000)
	perLevel := (int64(big) - int64(small)) / 1000
	t.Logf("ApplyLayer: 1000 levels: %d bytes allocated, 2000 levels: %d, %d per added level", small, big, perLevel)
	if perLevel > 1000 {
		t.Errorf("each added level allocates %d bytes, want at most 1000", perLevel)
	}

	w := &heapWatcher{}
	var m runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&m)
	w.base = m.HeapAlloc
	st, err := tr.Write(w, WriteOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("Write: %d entries, live heap grew by at most %d bytes", st.Entries, w.peak)
	if st.Entries != 2001 {
		t.Errorf("%d entries written, want 2001", st.Entries)
	}
	if w.peak > 1<<20 {
		t.Errorf("writing held %d bytes more, want at most 1 MiB (the 2001 names take 4 MB)", w.peak)
	}
}

// TestDeepPathRejected checks that a path longer than PATH_MAX is
// rejected at once, with a short message naming it.
func TestDeepPathRejected(t *testing.T) {
	for _, levels := range []int{2047, 40000} {
		layer := layerTar(t, file(strings.Repeat("a/", levels)+"z", ""))
		tr, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		n := allocated(func() { err = tr.ApplyLayer(strings.NewReader(string(layer))) })
		tr.Close()
		if err == nil || !strings.Contains(err.Error(), "longer than 4094 bytes") || !strings.Contains(err.Error(), `entry "a/a/a/`) {
			t.Fatalf("%d levels: %.300v, want a path length error naming the entry", levels, err)
		}
		if len(err.Error()) > 800 {
			t.Errorf("%d levels: message of %d bytes", levels, len(err.Error()))
		}
		if limit := uint64(len(layer))*4 + 1<<20; n > limit {
			t.Errorf("%d levels: %d bytes allocated, want at most %d", levels, n, limit)
		}
	}
}

// TestResolve follows symlinks the way the kernel does.
func TestResolve(t *testing.T) {
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	layer := layerTar(t, dir("etc"), file("etc/passwd", "root"), dir("usr"), dir("usr/lib"), file("usr/lib/os-release", "os"),
		sym("lib", "usr/lib"), sym("etc/os-release", "../lib/os-release"), sym("abs", "/etc/./passwd"),
		sym("up", "../../../etc/passwd"), sym("loop", "loop"), sym("deep", strings.Repeat("a/../", 500)+"etc/passwd"))
	if err := tr.ApplyLayer(strings.NewReader(string(layer))); err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"etc/passwd": "root", "etc/os-release": "os", "lib/os-release": "os", "abs": "root", "up": "root",
		"usr/lib/../../etc/passwd": "root", "loop": "", "etc/passwd/x": "", "nothing": "", "deep": "",
	} {
		b, ok, err := tr.readFile(p)
		if err != nil || string(b) != want || ok != (want != "") {
			t.Errorf("readFile(%q) = %q, %v, %v; want %q", p, b, ok, err, want)
		}
	}
}
