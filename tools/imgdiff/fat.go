package imgdiff

import (
	"encoding/binary"
	"fmt"

	"github.com/icos-build/icos/tools/imgdiff/fatr"
)

// diffFAT compares two FAT volumes: boot sector fields, every file and
// directory entry (attributes, names, times, content, clusters) and the
// sectors that differ outside file contents, by what they hold.
func (r *report) diffFAT(prefix string, a, b *view) error {
	fa, err := fatr.Open(a, 0)
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	fb, err := fatr.Open(b, 0)
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	return r.diffFS(prefix, a, b, &fatDiff{fa: fatSide{fs: fa}, fb: fatSide{fs: fb}})
}

// fatSide is one FAT volume of a comparison.
type fatSide struct {
	fs      *fatr.FS
	entries []fatr.Entry // from walk
	layout  *fatr.Layout
}

func (s *fatSide) walk() ([]fsFile, error) {
	entries, err := s.fs.Walk()
	if err != nil {
		return nil, err
	}
	s.entries = entries
	out := make([]fsFile, len(entries))
	for i := range entries {
		out[i] = fsFile{path: entries[i].Path, dir: entries[i].IsDir(), node: &entries[i]}
	}
	return out, nil
}

func (s *fatSide) newLayout() error {
	s.layout = s.fs.NewLayout(s.entries)
	return nil
}

func (s *fatSide) describe(start, n uint64) ([]fsRegion, error) {
	rs := s.layout.Describe(start, n)
	out := make([]fsRegion, len(rs))
	for i, x := range rs {
		kind := 0
		if x.File {
			kind = 1
		}
		out[i] = fsRegion{start: x.Start, len: x.Len, fileData: x.File, kind: kind, what: x.What, label: describeFAT(x)}
	}
	return out, nil
}

// fatDiff is the FAT part of a filesystem comparison (see diffFS).
type fatDiff struct {
	fa, fb fatSide
}

func (d *fatDiff) mismatch() string {
	fa, fb := d.fa.fs, d.fb.fs
	if fa.Bits != fb.Bits || fa.SectorSize() != fb.SectorSize() || fa.ClusterSize() != fb.ClusterSize() {
		return fmt.Sprintf("geometry FAT%d/%d-byte sectors/%d-byte clusters != FAT%d/%d/%d",
			fa.Bits, fa.SectorSize(), fa.ClusterSize(), fb.Bits, fb.SectorSize(), fb.ClusterSize())
	}
	return ""
}

func (d *fatDiff) unit() (int64, string) { return d.fa.fs.SectorSize(), "sectors" }

func (d *fatDiff) sides() (fsSide, fsSide) { return &d.fa, &d.fb }

// header compares the boot sectors and the volume label entries.
func (d *fatDiff) header(r *report, prefix string, a, b *view) error {
	if err := r.diffBootSector(prefix, d.fa.fs.Bits, a, b); err != nil {
		return err
	}
	la, err := d.fa.fs.Label()
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	lb, err := d.fb.fs.Label()
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	if la != lb {
		r.add(prefix, "volume label entry %q != %q", la, lb)
	}
	return nil
}

func (d *fatDiff) region(_, _ fsRegion) error { return nil }

func (d *fatDiff) finish(*report, string, []fsFile, []fsFile) error { return nil }

func describeFAT(x fatr.Region) string {
	if x.File {
		return "data of " + x.What
	}
	return x.What
}

// diffBootSector names the differing identity fields of the boot sectors.
func (r *report) diffBootSector(prefix string, bits int, a, b *view) error {
	sa := make([]byte, 512)
	sb := make([]byte, 512)
	if err := readFull(a, sa, 0); err != nil {
		return err
	}
	if err := readFull(b, sb, 0); err != nil {
		return err
	}
	ext := 36 // extended boot record of FAT12/16
	if bits == 32 {
		ext = 64
	}
	if x, y := string(sa[3:11]), string(sb[3:11]); x != y {
		r.add(prefix, "boot sector OEM name %q != %q", x, y)
	}
	if x, y := binary.LittleEndian.Uint32(sa[ext+3:]), binary.LittleEndian.Uint32(sb[ext+3:]); x != y {
		r.add(prefix, "boot sector volume serial %04X-%04X != %04X-%04X", x>>16, x&0xFFFF, y>>16, y&0xFFFF)
	}
	if x, y := string(sa[ext+7:ext+18]), string(sb[ext+7:ext+18]); x != y {
		r.add(prefix, "boot sector volume label %q != %q", x, y)
	}
	return nil
}

func (d *fatDiff) file(r *report, prefix, p string, a, b fsFile, diff []Range) error {
	x, y := a.node.(*fatr.Entry), b.node.(*fatr.Entry)
	fa, fb := d.fa.fs, d.fb.fs
	pre := prefix + ": file " + p
	add := func(format string, args ...any) { r.add(pre, format, args...) }
	if x.IsDir() != y.IsDir() {
		kind := map[bool]string{true: "directory", false: "regular file"}
		add("type %s != %s", kind[x.IsDir()], kind[y.IsDir()])
		return nil
	}
	cmp := func(field string, p, q any) {
		if p != q {
			add("%s %v != %v", field, p, q)
		}
	}
	if x.Path != "/" {
		cmp("short name", x.ShortName, y.ShortName)
		cmp("attributes", fmt.Sprintf("%#02x", x.Attr), fmt.Sprintf("%#02x", y.Attr))
		cmp("case flags", fmt.Sprintf("%#02x", x.NTRes), fmt.Sprintf("%#02x", y.NTRes))
		cmp("mtime", fatr.FormatTime(x.ModTime), fatr.FormatTime(y.ModTime))
		cmp("ctime", fmt.Sprintf("%s+%d0ms", fatr.FormatTime(x.CTime), x.CTimeTenth),
			fmt.Sprintf("%s+%d0ms", fatr.FormatTime(y.CTime), y.CTimeTenth))
		cmp("atime", fatr.FormatTime(uint32(x.ADate)<<16), fatr.FormatTime(uint32(y.ADate)<<16))
		cmp("size", x.Size, y.Size)
	}
	var ca, cb []Range
	for _, c := range x.Clusters {
		ca = addRange(ca, int64(c), int64(c+1))
	}
	for _, c := range y.Clusters {
		cb = addRange(cb, int64(c), int64(c+1))
	}
	same := formatRanges(ca, 1<<30) == formatRanges(cb, 1<<30)
	if !same {
		add("clusters %s != %s", formatRanges(ca, r.max), formatRanges(cb, r.max))
	}
	if x.IsDir() {
		return nil
	}
	if same && x.Size == y.Size {
		touched := false
		for _, c := range x.Clusters {
			o := fa.ClusterOffset(c)
			if overlaps(diff, o, o+fa.ClusterSize()) {
				touched = true
				break
			}
		}
		if !touched {
			return nil
		}
	}
	rs, err := diffRanges(
		readerFunc(func(buf []byte, off int64) (int, error) { return fa.ReadAt(x, buf, off) }),
		readerFunc(func(buf []byte, off int64) (int, error) { return fb.ReadAt(y, buf, off) }),
		int64(x.Size), int64(y.Size), 4096)
	if err != nil {
		return fmt.Errorf("file %s: %w", x.Path, err)
	}
	if len(rs) > 0 {
		add("content differs at bytes %s", formatRanges(clip(rs, int64(max(x.Size, y.Size))), r.max))
	}
	return nil
}
