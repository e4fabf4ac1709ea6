package rootfs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
	"github.com/icos-build/icos/tools/tarpath"
)

// Hostile shapes of input: very deep paths. Costs are checked as bytes
// allocated or held, not time; BenchmarkDeepPaths measures the time.

// deepEnts returns chains entries of one empty file at depth levels: "cN/"
// (when chains > 1), "a/" repeated levels times, then "z", with implicit
// directories.
func deepEnts(levels, chains int) []nent {
	var es []nent
	for i := 0; i < chains; i++ {
		name := strings.Repeat("a/", levels) + "z"
		if chains > 1 {
			name = fmt.Sprintf("c%d/%s", i, name)
		}
		es = append(es, nreg(name, ""))
	}
	return es
}

// held returns the most live heap Normalize holds (sampled) for in, which
// it writes to out.
func held(t *testing.T, in []byte, out io.Writer) uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	w := &heapWatcher{sink: out, base: m.HeapAlloc}
	if err := Normalize(w, bytes.NewReader(in), NormalizeOptions{}); err != nil {
		t.Fatal(err)
	}
	return w.peak
}

// TestNormalizeDeepPath normalizes files 1000 and 2000 directories deep (2000 is
// near the deepest tarpath.MaxPathLen allows): the output holds the
// synthesized parents (each with its full name: 4 MB of names for 2000)
// and GNU tar lists them, while the memory held grows by a bounded number
// of bytes per level, far below the size of those names.
func TestNormalizeDeepPath(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	small, big := held(t, mkTar(t, deepEnts(1000, 1)), io.Discard), held(t, mkTar(t, deepEnts(2000, 1)), f)
	perLevel := (int64(big) - int64(small)) / 1000
	t.Logf("live heap grew by at most %d bytes for 1000 levels, %d for 2000: %d per added level", small, big, perLevel)
	if perLevel > 1000 {
		t.Errorf("each added level holds %d bytes, want at most 1000", perLevel)
	}

	list, err := exec.Command(testutil.Tool(t, "tar", "tar"), "-tf", f.Name()).Output()
	if err != nil {
		t.Fatalf("GNU tar -t: %v", err)
	}
	lines := strings.Split(strings.TrimSuffix(string(list), "\n"), "\n")
	if len(lines) != 2001 {
		t.Fatalf("GNU tar lists %d entries, want 2001", len(lines))
	}
	for i, l := range lines[:2000] {
		if l != strings.Repeat("a/", i+1) {
			t.Fatalf("entry %d: %s, want %s", i, tarpath.Quote(l), tarpath.Quote(strings.Repeat("a/", i+1)))
		}
	}
	if want := strings.Repeat("a/", 2000) + "z"; lines[2000] != want {
		t.Errorf("last entry: %s", tarpath.Quote(lines[2000]))
	}
}

// TestNormalizeDeepPathRejected checks that a path longer than PATH_MAX is
// rejected at once, with a short message naming it, and nothing written.
func TestNormalizeDeepPathRejected(t *testing.T) {
	for _, levels := range []int{2047, 40000} {
		in := mkTar(t, deepEnts(levels, 1))
		var out bytes.Buffer
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		err := Normalize(&out, bytes.NewReader(in), NormalizeOptions{})
		runtime.ReadMemStats(&after)
		if err == nil || !strings.Contains(err.Error(), "longer than 4094 bytes") || !strings.Contains(err.Error(), `entry "a/a/a/`) {
			t.Fatalf("%d levels: %.300v, want a path length error naming the entry", levels, err)
		}
		if len(err.Error()) > 800 {
			t.Errorf("%d levels: message of %d bytes", levels, len(err.Error()))
		}
		if out.Len() > 0 {
			t.Errorf("%d levels: %d bytes written", levels, out.Len())
		}
		if n, limit := after.TotalAlloc-before.TotalAlloc, uint64(len(in))*4+4<<20; n > limit {
			t.Errorf("%d levels: %d bytes allocated, want at most %d", levels, n, limit)
		}
	}
}

// TestExcludeParents checks with tricky globs that an entry is left out
// exactly when a glob matches its name or the name of one of its parents.
func TestExcludeParents(t *testing.T) {
	globs := []string{"run", "run/*", "*.pyc", "*/*.pyc", "a[/]b", `a\/b`, `a\[/b`, "[^x]", "a[^x]b/*", "?/?", "*/*/*", "a/*/c[/]d", `[\]]`}
	cands := []string{"run", "run/a", "runner/x", "x.pyc", "lib/y.pyc", "a/b", "a/b/c", "a[/b", "a/x/c/d", "a/x/c/d/e",
		"q", "q/r", "q/r/s/t", "]", "a/b/c/d/e/f"}
	var ents []nent
	all := map[string]bool{}
	for _, name := range cands {
		ents = append(ents, ndir(name+"/"))
		for p := name; p != ""; p = tarpath.Parent(p) {
			all[p] = true
		}
	}
	in := mkTar(t, ents)
	for _, g := range globs {
		out, err := normalize(t, in, NormalizeOptions{Exclude: []string{g}})
		if err != nil {
			t.Fatalf("%q: %v", g, err)
		}
		got := map[string]bool{}
		for _, n := range names(readBack(t, out)) {
			got[strings.TrimSuffix(n, "/")] = true
		}
		for name := range all {
			want := true
			for p := name; p != ""; p = tarpath.Parent(p) {
				if ok, _ := path.Match(g, p); ok {
					want = false
				}
			}
			if got[name] != want {
				t.Errorf("glob %q, name %q: kept %v, want %v", g, name, got[name], want)
			}
		}
	}
}

// BenchmarkDeepPaths normalizes 5 files each 2040 directories deep (with
// an exclude glob to try on every parent): an input of 36 kB whose output
// holds 10,200 entries, 21 MB of names.
func BenchmarkDeepPaths(b *testing.B) {
	in := mkTar(b, deepEnts(2040, 5))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Normalize(io.Discard, bytes.NewReader(in), NormalizeOptions{Exclude: []string{"*/x"}}); err != nil {
			b.Fatal(err)
		}
	}
}
