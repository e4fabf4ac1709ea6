package imgdiff

import (
	"slices"
	"testing"
)

// treePair is an fsPair whose file comparison only records the paths it
// is given.
type treePair struct{ compared []string }

func (p *treePair) mismatch() string                                 { return "" }
func (p *treePair) unit() (int64, string)                            { return 1, "bytes" }
func (p *treePair) sides() (fsSide, fsSide)                          { return nil, nil }
func (p *treePair) header(*report, string, *view, *view) error       { return nil }
func (p *treePair) region(fsRegion, fsRegion) error                  { return nil }
func (p *treePair) finish(*report, string, []fsFile, []fsFile) error { return nil }
func (p *treePair) file(r *report, prefix, path string, a, b fsFile, _ []Range) error {
	p.compared = append(p.compared, path)
	if a.dir != b.dir {
		r.add(prefix, "file %s: type differs", path)
	}
	return nil
}

// tree builds a sorted tree from paths; a trailing "/" marks a directory.
func tree(paths ...string) []fsFile {
	var out []fsFile
	for _, p := range paths {
		dir := p == "/" || p[len(p)-1] == '/'
		if p != "/" && dir {
			p = p[:len(p)-1]
		}
		out = append(out, fsFile{path: p, dir: dir})
	}
	return out
}

func TestDiffTrees(t *testing.T) {
	for _, c := range []struct {
		name         string
		a, b         []fsFile
		wantLines    []string
		wantCompared []string
	}{
		{"same", tree("/", "/a", "/b/", "/b/c"), tree("/", "/a", "/b/", "/b/c"), nil, []string{"/", "/a", "/b", "/b/c"}},
		{"file only in A", tree("/", "/a", "/b"), tree("/", "/b"), []string{"x: file /a: only in A"}, []string{"/", "/b"}},
		{"file only in B", tree("/", "/b"), tree("/", "/a", "/b"), []string{"x: file /a: only in B"}, []string{"/", "/b"}},
		{"directory only in A hides its children", tree("/", "/d/", "/d/e/", "/d/e/f", "/z"), tree("/", "/z"),
			[]string{"x: file /d: only in A"}, []string{"/", "/z"}},
		{"directory only in B hides its children", tree("/", "/d"), tree("/", "/d", "/e/", "/e/f"),
			[]string{"x: file /e: only in B"}, []string{"/", "/d"}},
		{"file only in A is not a directory", tree("/", "/d", "/d.x"), tree("/", "/d.x"),
			[]string{"x: file /d: only in A"}, []string{"/", "/d.x"}},
		{"type change", tree("/", "/t/"), tree("/", "/t"), []string{"x: file /t: type differs"}, []string{"/", "/t"}},
		{"interleaved", tree("/", "/a", "/c", "/e"), tree("/", "/b", "/c", "/d"),
			[]string{"x: file /a: only in A", "x: file /b: only in B", "x: file /d: only in B", "x: file /e: only in A"},
			[]string{"/", "/c"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &report{max: 10}
			p := &treePair{}
			if err := r.diffTrees("x", c.a, c.b, p, nil); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.lines, c.wantLines) {
				t.Errorf("lines\n%q\nwant\n%q", r.lines, c.wantLines)
			}
			if !slices.Equal(p.compared, c.wantCompared) {
				t.Errorf("compared %q, want %q", p.compared, c.wantCompared)
			}
		})
	}
}

func TestOnlyDirsUnder(t *testing.T) {
	o := onlyDirs{"/a": true, "/b/c": true}
	for _, c := range []struct {
		p    string
		want bool
	}{{"/a", false}, {"/a/x", true}, {"/a/x/y", true}, {"/ab", false}, {"/b", false}, {"/b/c/d", true}, {"/", false}} {
		if got := o.under(c.p); got != c.want {
			t.Errorf("under(%q) = %v, want %v", c.p, got, c.want)
		}
	}
	if (onlyDirs{}).under("/a/b") {
		t.Error("empty set: under = true")
	}
}
