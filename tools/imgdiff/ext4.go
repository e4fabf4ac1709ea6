package imgdiff

import (
	"encoding/binary"
	"fmt"
	"path"
	"sort"
	"strings"

	"github.com/icos-build/icos/tools/ext4/ondisk"
	"github.com/icos-build/icos/tools/imgdiff/ext4r"
)

// sbField names a superblock field by its offset in the superblock.
type sbField struct {
	off, size int
	name      string
}

// sbFields are the superblock fields named in reports (offsets from the
// kernel's struct ext4_super_block).
var sbFields = []sbField{
	{0x00, 4, "inode count"}, {0x04, 4, "block count"}, {0x08, 4, "reserved block count"},
	{0x0C, 4, "free block count"}, {0x10, 4, "free inode count"}, {0x2C, 4, "mount time"},
	{0x30, 4, "write time"}, {0x34, 2, "mount count"}, {0x3A, 2, "state"},
	{0x40, 4, "last check time"}, {0x5C, 4, "compatible features"},
	{0x60, 4, "incompatible features"}, {0x64, 4, "read-only compatible features"},
	{0x68, 16, "UUID"}, {0x78, 16, "volume name"}, {0x88, 64, "last mounted directory"},
	{0xE0, 4, "journal inode"}, {0xEC, 16, "hash seed"}, {0xFC, 1, "default hash version"},
	{0x108, 4, "creation time"}, {0x10C, 68, "journal inode backup"},
	{0x150, 4, "block count (high)"}, {0x158, 4, "free block count (high)"},
	{0x178, 8, "kilobytes written"}, {0x270, 4, "checksum seed"}, {0x3FC, 4, "checksum"},
}

func formatSBField(f sbField, b []byte) string {
	v := b[f.off : f.off+f.size]
	le := binary.LittleEndian
	switch {
	case f.name == "UUID" || f.name == "hash seed":
		return fmt.Sprintf("%x-%x-%x-%x-%x", v[0:4], v[4:6], v[6:8], v[8:10], v[10:16])
	case f.name == "volume name" || f.name == "last mounted directory":
		return fmt.Sprintf("%q", strings.TrimRight(string(v), "\x00"))
	case f.name == "checksum" || strings.HasSuffix(f.name, "features"):
		return fmt.Sprintf("%#x", le.Uint32(v))
	case f.size == 1:
		return fmt.Sprint(v[0])
	case f.size == 2:
		return fmt.Sprint(le.Uint16(v))
	case f.size == 4:
		return fmt.Sprint(le.Uint32(v))
	case f.size == 8:
		return fmt.Sprint(le.Uint64(v))
	}
	return fmt.Sprintf("%x", v)
}

// diffSuperblock names the differing fields of the primary superblocks.
func (r *report) diffSuperblock(prefix string, a, b *view) error {
	sa := make([]byte, 1024)
	sb := make([]byte, 1024)
	if err := readFull(a, sa, 1024); err != nil {
		return err
	}
	if err := readFull(b, sb, 1024); err != nil {
		return err
	}
	named := make([]bool, 1024)
	for _, f := range sbFields {
		for i := f.off; i < f.off+f.size; i++ {
			named[i] = true
		}
		if x, y := formatSBField(f, sa), formatSBField(f, sb); x != y {
			r.add(prefix, "superblock %s %s != %s", f.name, x, y)
		}
	}
	var other []Range
	for i := range sa {
		if sa[i] != sb[i] && !named[i] {
			other = addRange(other, int64(i), int64(i+1))
		}
	}
	if len(other) > 0 {
		r.add(prefix, "superblock bytes %s differ", formatRanges(other, r.max))
	}
	return nil
}

func typeName(mode uint16) string {
	switch mode & ondisk.ModeType {
	case ondisk.ModeDir:
		return "directory"
	case ondisk.ModeRegular:
		return "regular file"
	case ondisk.ModeSymlink:
		return "symlink"
	case ondisk.ModeChar:
		return "character device"
	case ondisk.ModeBlock:
		return "block device"
	case ondisk.ModeFIFO:
		return "fifo"
	case ondisk.ModeSocket:
		return "socket"
	}
	return fmt.Sprintf("type %#o", mode&ondisk.ModeType)
}

// diffExt4 compares two ext4 filesystems: superblock fields, every file
// (metadata, xattrs, content, block map) and the blocks that differ outside
// file contents, by what they hold.
func (r *report) diffExt4(prefix string, a, b *view) error {
	fa, err := ext4r.Open(a, 0)
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	fb, err := ext4r.Open(b, 0)
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	bs := fa.BlockSize()
	if fb.BlockSize() != bs {
		r.add(prefix, "block size %d != %d", bs, fb.BlockSize())
		return r.diffRaw(prefix, a, b)
	}
	diff, err := diffRanges(a, b, a.size, b.size, bs)
	if err != nil || len(diff) == 0 {
		return err
	}
	if a.size != b.size {
		r.add(prefix, "image size %d != %d", a.size, b.size)
	}
	if err := r.diffSuperblock(prefix, a, b); err != nil {
		return err
	}
	filesA, err := fa.Walk()
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	filesB, err := fb.Walk()
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	d := &ext4Diff{r: r, prefix: prefix, fa: fa, fb: fb, diff: diff}
	only := onlyDirs{} // directories on one side only: their children are not listed
	for i, j := 0, 0; i < len(filesA) || j < len(filesB); {
		var p string
		var ia, ib *ext4r.Inode
		switch {
		case j >= len(filesB) || i < len(filesA) && filesA[i].Path < filesB[j].Path:
			p, ia = filesA[i].Path, filesA[i].Inode
			i++
		case i >= len(filesA) || filesB[j].Path < filesA[i].Path:
			p, ib = filesB[j].Path, filesB[j].Inode
			j++
		default:
			p, ia, ib = filesA[i].Path, filesA[i].Inode, filesB[j].Inode
			i++
			j++
		}
		if only.under(p) {
			continue
		}
		switch {
		case ib == nil:
			r.add(prefix, "file %s: only in A", p)
		case ia == nil:
			r.add(prefix, "file %s: only in B", p)
		default:
			if err := d.file(p, ia, ib); err != nil {
				return err
			}
			continue
		}
		if ia != nil && ia.IsDir() || ib != nil && ib.IsDir() {
			only[p] = true
		}
	}
	la, err := fa.NewLayout(filesA)
	if err != nil {
		return fmt.Errorf("A: %w", err)
	}
	lb, err := fb.NewLayout(filesB)
	if err != nil {
		return fmt.Errorf("B: %w", err)
	}
	g := newGroups()
	var inodes []Range // inode numbers whose inode table slots differ
	for _, x := range diff {
		s := uint64(x.Start / bs)
		n := uint64((x.End+bs-1)/bs) - s
		ra, err := la.Describe(s, n)
		if err != nil {
			return fmt.Errorf("A: %w", err)
		}
		for _, pa := range ra {
			rb, err := lb.Describe(pa.Start, pa.Len)
			if err != nil {
				return fmt.Errorf("B: %w", err)
			}
			for _, pb := range rb {
				if pa.Kind == ext4r.KindFileData && pb.Kind == ext4r.KindFileData {
					continue // explained by the file lines
				}
				label := describeExt4(pa)
				if pa.Kind != pb.Kind || pa.What != pb.What {
					label = fmt.Sprintf("%s in A, %s in B", label, describeExt4(pb))
				}
				g.add(label, int64(pb.Start), int64(pb.Start+pb.Len))
				if pa.Kind == ext4r.KindMeta && pa.What == pb.What && strings.HasPrefix(pa.What, "inode table of group") {
					if inodes, err = changedInodes(fa, a, b, pa, inodes); err != nil {
						return err
					}
				}
			}
		}
	}
	g.emit(r, prefix, "blocks")
	if len(inodes) > 0 {
		r.add(prefix, "inodes %s differ", formatInodes(inodes, filesA, filesB, r.max))
	}
	return nil
}

func describeExt4(x ext4r.Region) string {
	switch x.Kind {
	case ext4r.KindFileData:
		return "data of " + x.What
	case ext4r.KindDirectory:
		return "directory " + x.What
	case ext4r.KindMap:
		return "block map of " + x.What
	case ext4r.KindXattr:
		return "xattr block of " + x.What
	case ext4r.KindJournal:
		return "journal"
	}
	return x.What
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

type ext4Diff struct {
	r      *report
	prefix string
	fa, fb *ext4r.FS
	diff   []Range // differing byte ranges of the images
}

func (d *ext4Diff) file(p string, ia, ib *ext4r.Inode) error {
	pre := d.prefix + ": file " + p
	add := func(format string, args ...any) { d.r.add(pre, format, args...) }
	if ta, tb := typeName(ia.Mode), typeName(ib.Mode); ta != tb {
		add("type %s != %s", ta, tb)
		return nil
	}
	cmp := func(field string, x, y any) {
		if x != y {
			add("%s %v != %v", field, x, y)
		}
	}
	cmp("inode", ia.Ino, ib.Ino)
	cmp("mode", fmt.Sprintf("%04o", ia.Mode&0o7777), fmt.Sprintf("%04o", ib.Mode&0o7777))
	cmp("uid", ia.UID, ib.UID)
	cmp("gid", ia.GID, ib.GID)
	cmp("link count", ia.Links, ib.Links)
	cmp("size", ia.Size, ib.Size)
	cmp("flags", fmt.Sprintf("%#x", ia.Flags), fmt.Sprintf("%#x", ib.Flags))
	cmp("generation", ia.Generation, ib.Generation)
	cmp("device", ia.Rdev, ib.Rdev)
	cmp("mtime", ia.Mtime, ib.Mtime)
	cmp("ctime", ia.Ctime, ib.Ctime)
	cmp("atime", ia.Atime, ib.Atime)
	cmp("crtime", ia.Crtime, ib.Crtime)
	xa, err := d.fa.Xattrs(ia)
	if err != nil {
		return fmt.Errorf("file %s: A: %w", p, err)
	}
	xb, err := d.fb.Xattrs(ib)
	if err != nil {
		return fmt.Errorf("file %s: B: %w", p, err)
	}
	diffXattrs(add, xa, xb)
	if ia.IsSymlink() {
		ta, err := d.fa.Symlink(ia)
		if err != nil {
			return fmt.Errorf("file %s: A: %w", p, err)
		}
		tb, err := d.fb.Symlink(ib)
		if err != nil {
			return fmt.Errorf("file %s: B: %w", p, err)
		}
		cmp("symlink target", fmt.Sprintf("%q", ta), fmt.Sprintf("%q", tb))
	}
	ea, ma, err := d.fa.Extents(ia)
	if err != nil {
		return fmt.Errorf("file %s: A: %w", p, err)
	}
	eb, mb, err := d.fb.Extents(ib)
	if err != nil {
		return fmt.Errorf("file %s: B: %w", p, err)
	}
	if x, y := formatExtents(ea, d.r.max), formatExtents(eb, d.r.max); x != y {
		add("data blocks %s != %s", x, y)
	}
	if x, y := formatBlocks(ma, d.r.max), formatBlocks(mb, d.r.max); x != y {
		add("block map blocks %s != %s", x, y)
	}
	if !ia.IsRegular() {
		return nil
	}
	if ia.Size == ib.Size && !ia.Inline() && !ib.Inline() && sameExtents(ea, eb) && !d.touched(ea) {
		return nil // same blocks, none of them differ
	}
	bs := d.fa.BlockSize()
	rs, err := diffRanges(
		readerFunc(func(p []byte, off int64) (int, error) { return d.fa.ReadAt(ia, ea, p, off) }),
		readerFunc(func(p []byte, off int64) (int, error) { return d.fb.ReadAt(ib, eb, p, off) }),
		int64(ia.Size), int64(ib.Size), bs)
	if err != nil {
		return fmt.Errorf("file %s: %w", p, err)
	}
	if len(rs) > 0 {
		add("content differs at bytes %s", formatRanges(clip(rs, int64(max(ia.Size, ib.Size))), d.r.max))
	}
	return nil
}

// touched reports whether any block of the extents is in a differing range.
func (d *ext4Diff) touched(ext []ext4r.Extent) bool {
	bs := d.fa.BlockSize()
	for _, e := range ext {
		if overlaps(d.diff, int64(e.Physical)*bs, int64(e.Physical+e.Len)*bs) {
			return true
		}
	}
	return false
}

// clip limits the last range to size.
func clip(rs []Range, size int64) []Range {
	if n := len(rs); n > 0 && rs[n-1].End > size {
		rs[n-1].End = size
	}
	return rs
}

func sameExtents(a, b []ext4r.Extent) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// formatExtents prints the physical blocks of a block map, merged.
func formatExtents(ext []ext4r.Extent, max int) string {
	var rs []Range
	for _, e := range ext {
		rs = addRange(rs, int64(e.Physical), int64(e.Physical+e.Len))
	}
	return formatRanges(rs, max)
}

func formatBlocks(bl []uint64, max int) string {
	var rs []Range
	for _, b := range bl {
		rs = addRange(rs, int64(b), int64(b+1))
	}
	return formatRanges(rs, max)
}

func diffXattrs(add func(string, ...any), xa, xb []ext4r.Xattr) {
	i, j := 0, 0
	for i < len(xa) || j < len(xb) {
		switch {
		case j >= len(xb) || i < len(xa) && xa[i].Name < xb[j].Name:
			add("xattr %s: only in A", xa[i].Name)
			i++
		case i >= len(xa) || xb[j].Name < xa[i].Name:
			add("xattr %s: only in B", xb[j].Name)
			j++
		default:
			if string(xa[i].Value) != string(xb[j].Value) {
				add("xattr %s: %s != %s", xa[i].Name, showValue(xa[i].Value), showValue(xb[j].Value))
			}
			i++
			j++
		}
	}
}

// showValue prints an xattr value quoted, shortened when long.
func showValue(v []byte) string {
	if len(v) > 64 {
		return fmt.Sprintf("%q... (%d bytes)", v[:64], len(v))
	}
	return fmt.Sprintf("%q", v)
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

// changedInodes adds to rs the inode numbers whose slots differ in the inode
// table blocks of region x.
func changedInodes(fs *ext4r.FS, a, b *view, x ext4r.Region, rs []Range) ([]Range, error) {
	bs := fs.BlockSize()
	isz := int64(fs.SB.InodeSize)
	ba := make([]byte, bs)
	bb := make([]byte, bs)
	for blk := x.Start; blk < x.Start+x.Len; blk++ {
		first, n, ok := fs.InodesInBlock(blk)
		if !ok {
			continue
		}
		if err := readFull(a, ba, int64(blk)*bs); err != nil {
			return nil, fmt.Errorf("A: inode table block %d: %w", blk, err)
		}
		if err := readFull(b, bb, int64(blk)*bs); err != nil {
			return nil, fmt.Errorf("B: inode table block %d: %w", blk, err)
		}
		for i := int64(0); i < int64(n); i++ {
			if string(ba[i*isz:(i+1)*isz]) != string(bb[i*isz:(i+1)*isz]) {
				ino := int64(first) + i
				rs = addRange(rs, ino, ino+1)
			}
		}
	}
	return rs, nil
}

// formatInodes lists inode numbers with the path that holds each (from A,
// else B), at most max of them.
func formatInodes(rs []Range, filesA, filesB []ext4r.File, max int) string {
	names := map[int64]string{}
	for _, files := range [][]ext4r.File{filesB, filesA} {
		for i := len(files) - 1; i >= 0; i-- { // the first path of a hard link wins
			names[int64(files[i].Inode.Ino)] = files[i].Path
		}
	}
	var parts []string
	total := 0
	for _, r := range rs {
		for ino := r.Start; ino < r.End; ino++ {
			total++
			if len(parts) == max {
				continue
			}
			name, ok := names[ino]
			if !ok {
				name = "no path"
			}
			parts = append(parts, fmt.Sprintf("%d (%s)", ino, name))
		}
	}
	s := strings.Join(parts, ", ")
	if total > len(parts) {
		s += fmt.Sprintf(" ... and %d more", total-len(parts))
	}
	return s
}
