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
	ss := fa.SectorSize()
	if fa.Bits != fb.Bits || ss != fb.SectorSize() || fa.ClusterSize() != fb.ClusterSize() {
		r.add(prefix, "geometry FAT%d/%d-byte sectors/%d-byte clusters != FAT%d/%d/%d",
			fa.Bits, ss, fa.ClusterSize(), fb.Bits, fb.SectorSize(), fb.ClusterSize())
		return r.diffRaw(prefix, a, b)
	}
	diff, err := diffRanges(a, b, a.size, b.size, ss)
	if err != nil || len(diff) == 0 {
		return err
	}
	if a.size != b.size {
		r.add(prefix, "image size %d != %d", a.size, b.size)
	}
	if err := r.diffBootSector(prefix, fa.Bits, a, b); err != nil {
		return err
	}
	la, err := fa.Label()
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	lb, err := fb.Label()
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	if la != lb {
		r.add(prefix, "volume label entry %q != %q", la, lb)
	}
	ea, err := fa.Walk()
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	eb, err := fb.Walk()
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	only := onlyDirs{}
	for i, j := 0, 0; i < len(ea) || j < len(eb); {
		var x, y *fatr.Entry
		switch {
		case j >= len(eb) || i < len(ea) && ea[i].Path < eb[j].Path:
			x = &ea[i]
			i++
		case i >= len(ea) || eb[j].Path < ea[i].Path:
			y = &eb[j]
			j++
		default:
			x, y = &ea[i], &eb[j]
			i++
			j++
		}
		p := x
		if p == nil {
			p = y
		}
		if only.under(p.Path) {
			continue
		}
		switch {
		case y == nil:
			r.add(prefix, "file %s: only in A", x.Path)
		case x == nil:
			r.add(prefix, "file %s: only in B", y.Path)
		default:
			if err := r.diffFATEntry(prefix, fa, fb, x, y, diff); err != nil {
				return err
			}
			continue
		}
		if p.IsDir() {
			only[p.Path] = true
		}
	}
	lya, lyb := fa.NewLayout(ea), fb.NewLayout(eb)
	g := newGroups()
	for _, d := range diff {
		s := uint64(d.Start / ss)
		n := uint64((d.End+ss-1)/ss) - s
		for _, pa := range lya.Describe(s, n) {
			for _, pb := range lyb.Describe(pa.Start, pa.Len) {
				if pa.File && pb.File {
					continue // explained by the file lines
				}
				label := describeFAT(pa)
				if pa.What != pb.What || pa.File != pb.File {
					label = fmt.Sprintf("%s in A, %s in B", label, describeFAT(pb))
				}
				g.add(label, int64(pb.Start), int64(pb.Start+pb.Len))
			}
		}
	}
	g.emit(r, prefix, "sectors")
	return nil
}

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

func (r *report) diffFATEntry(prefix string, fa, fb *fatr.FS, x, y *fatr.Entry, diff []Range) error {
	pre := prefix + ": file " + x.Path
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
		cmp("mtime", fatr.FormatTime(x.MTime), fatr.FormatTime(y.MTime))
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
		readerFunc(func(p []byte, off int64) (int, error) { return fa.ReadAt(x, p, off) }),
		readerFunc(func(p []byte, off int64) (int, error) { return fb.ReadAt(y, p, off) }),
		int64(x.Size), int64(y.Size), 4096)
	if err != nil {
		return fmt.Errorf("file %s: %w", x.Path, err)
	}
	if len(rs) > 0 {
		add("content differs at bytes %s", formatRanges(clip(rs, int64(max(x.Size, y.Size))), r.max))
	}
	return nil
}
