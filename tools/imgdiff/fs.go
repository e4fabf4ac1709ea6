package imgdiff

import (
	"fmt"
	"path"
	"sort"
)

// A filesystem comparison has one shape whatever the format: the geometry
// must match (else bytes are compared), the differing units (blocks,
// sectors) are found, the fields outside any file are compared, both trees
// are walked in path order comparing the files found on both sides, and
// the differing units that no file line explains are named by what they
// hold on each side. diffFS is that shape; fsPair is what a format (ext4.go,
// fat.go) supplies, over its reader (ext4r, fatr).

// fsFile is one file or directory of a tree, as a format's walk returns it.
type fsFile struct {
	path string // absolute, "/" for the root
	dir  bool
	node any // the reader's own entry, for the format's file comparison
}

// fsRegion is a run of units with one use, as a format's layout describes it.
type fsRegion struct {
	start, len uint64
	fileData   bool   // content of a regular file: the file lines explain it
	kind       int    // the reader's kind of use; with what, the identity of the use
	what       string // the reader's description of the use
	label      string // how a report names the use ("data of /x", "inode table of group 0")
}

// fsSide is one opened filesystem.
type fsSide interface {
	// walk returns every file, the root included, sorted by path.
	walk() ([]fsFile, error)
	// newLayout maps what each unit holds, the files of walk included.
	newLayout() error
	// describe splits the units [start, start+n) into regions by use; it is
	// called after newLayout.
	describe(start, n uint64) ([]fsRegion, error)
}

// fsPair is a format's part of comparing two filesystems of that format.
type fsPair interface {
	// mismatch returns the report line for two geometries too different to
	// compare by structure, "" when they match.
	mismatch() string
	// unit returns the size in bytes of the units the layouts describe and
	// their plural name in reports ("blocks", "sectors").
	unit() (int64, string)
	// sides returns the filesystems of A and B.
	sides() (a, b fsSide)
	// header reports the differing fields outside any file (superblock,
	// boot sector, volume label).
	header(r *report, prefix string, a, b *view) error
	// file reports how a file present on both sides differs; diff holds
	// the differing byte ranges of the images.
	file(r *report, prefix, p string, a, b fsFile, diff []Range) error
	// region is told of each differing pair of regions that is not file
	// data on both sides, after it is reported.
	region(pa, pb fsRegion) error
	// finish adds the lines that come after the regions.
	finish(r *report, prefix string, filesA, filesB []fsFile) error
}

// diffFS compares two filesystems of one format.
func (r *report) diffFS(prefix string, a, b *view, pair fsPair) error {
	if line := pair.mismatch(); line != "" {
		r.add(prefix, "%s", line)
		return r.diffRaw(prefix, a, b)
	}
	unit, unitName := pair.unit()
	diff, err := diffRanges(a, b, a.size, b.size, unit)
	if err != nil || len(diff) == 0 {
		return err
	}
	if a.size != b.size {
		r.add(prefix, "image size %d != %d", a.size, b.size)
	}
	if err := pair.header(r, prefix, a, b); err != nil {
		return err
	}
	sa, sb := pair.sides()
	filesA, err := sa.walk()
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	filesB, err := sb.walk()
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	if err := r.diffTrees(prefix, filesA, filesB, pair, diff); err != nil {
		return err
	}
	if err := sa.newLayout(); err != nil {
		return fmt.Errorf("A: %w", err)
	}
	if err := sb.newLayout(); err != nil {
		return fmt.Errorf("B: %w", err)
	}
	g := newGroups()
	for _, x := range diff {
		s := uint64(x.Start / unit)
		n := uint64((x.End+unit-1)/unit) - s
		ra, err := sa.describe(s, n)
		if err != nil {
			return fmt.Errorf("A: %w", err)
		}
		for _, pa := range ra {
			rb, err := sb.describe(pa.start, pa.len)
			if err != nil {
				return fmt.Errorf("B: %w", err)
			}
			for _, pb := range rb {
				if pa.fileData && pb.fileData {
					continue // explained by the file lines
				}
				label := pa.label
				if pa.kind != pb.kind || pa.what != pb.what {
					label = fmt.Sprintf("%s in A, %s in B", pa.label, pb.label)
				}
				g.add(label, int64(pb.start), int64(pb.start+pb.len))
				if err := pair.region(pa, pb); err != nil {
					return err
				}
			}
		}
	}
	g.emit(r, prefix, unitName)
	return pair.finish(r, prefix, filesA, filesB)
}

// diffTrees walks two trees in path order: a file on one side only is one
// line (its children, for a directory, none), a file on both sides goes to
// the format's comparison.
func (r *report) diffTrees(prefix string, filesA, filesB []fsFile, pair fsPair, diff []Range) error {
	only := onlyDirs{} // directories on one side only: their children are not listed
	for i, j := 0, 0; i < len(filesA) || j < len(filesB); {
		var x, y *fsFile
		switch {
		case j >= len(filesB) || i < len(filesA) && filesA[i].path < filesB[j].path:
			x = &filesA[i]
			i++
		case i >= len(filesA) || filesB[j].path < filesA[i].path:
			y = &filesB[j]
			j++
		default:
			x, y = &filesA[i], &filesB[j]
			i++
			j++
		}
		switch {
		case y == nil:
			if !only.under(x.path) {
				r.add(prefix, "file %s: only in A", x.path)
				if x.dir {
					only[x.path] = true
				}
			}
		case x == nil:
			if !only.under(y.path) {
				r.add(prefix, "file %s: only in B", y.path)
				if y.dir {
					only[y.path] = true
				}
			}
		case !only.under(x.path):
			if err := pair.file(r, prefix, x.path, *x, *y, diff); err != nil {
				return err
			}
		}
	}
	return nil
}

// onlyDirs holds directories found on one side only.
type onlyDirs map[string]bool

// under reports whether p is inside one of the directories.
func (o onlyDirs) under(p string) bool {
	for len(o) > 0 && p != "/" {
		p = path.Dir(p)
		if o[p] {
			return true
		}
	}
	return false
}

// groups collects ranges by label, printed in order of their first range.
type groups struct {
	m map[string][]Range
}

func newGroups() *groups { return &groups{m: map[string][]Range{}} }

func (g *groups) add(label string, s, e int64) { g.m[label] = addRange(g.m[label], s, e) }

func (g *groups) emit(r *report, prefix, unit string) {
	labels := make([]string, 0, len(g.m))
	for l := range g.m {
		labels = append(labels, l)
	}
	sort.Slice(labels, func(i, j int) bool {
		x, y := g.m[labels[i]][0].Start, g.m[labels[j]][0].Start
		if x != y {
			return x < y
		}
		return labels[i] < labels[j]
	})
	for _, l := range labels {
		r.add(prefix, "%s: %s %s differ", l, unit, formatRanges(g.m[l], r.max))
	}
}

// clip limits the last range to size.
func clip(rs []Range, size int64) []Range {
	if n := len(rs); n > 0 && rs[n-1].End > size {
		rs[n-1].End = size
	}
	return rs
}
