package imgdiff

import (
	"encoding/binary"
	"fmt"
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
	return r.diffFS(prefix, a, b, &ext4Diff{a: a, b: b, fa: ext4Side{fs: fa}, fb: ext4Side{fs: fb}})
}

// ext4Side is one ext4 filesystem of a comparison.
type ext4Side struct {
	fs     *ext4r.FS
	files  []ext4r.File // from walk
	layout *ext4r.Layout
}

func (s *ext4Side) walk() ([]fsFile, error) {
	files, err := s.fs.Walk()
	if err != nil {
		return nil, err
	}
	s.files = files
	out := make([]fsFile, len(files))
	for i, f := range files {
		out[i] = fsFile{path: f.Path, dir: f.Inode.IsDir(), node: f.Inode}
	}
	return out, nil
}

func (s *ext4Side) newLayout() (err error) {
	s.layout, err = s.fs.NewLayout(s.files)
	return err
}

func (s *ext4Side) describe(start, n uint64) ([]fsRegion, error) {
	rs, err := s.layout.Describe(start, n)
	if err != nil {
		return nil, err
	}
	out := make([]fsRegion, len(rs))
	for i, x := range rs {
		out[i] = fsRegion{start: x.Start, len: x.Len, fileData: x.Kind == ext4r.KindFileData,
			kind: int(x.Kind), what: x.What, label: describeExt4(x)}
	}
	return out, nil
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

// ext4Diff is the ext4 part of a filesystem comparison (see diffFS).
type ext4Diff struct {
	a, b   *view
	fa, fb ext4Side
	inodes []Range // inode numbers whose inode table slots differ
}

func (d *ext4Diff) mismatch() string {
	if x, y := d.fa.fs.BlockSize(), d.fb.fs.BlockSize(); x != y {
		return fmt.Sprintf("block size %d != %d", x, y)
	}
	return ""
}

func (d *ext4Diff) unit() (int64, string) { return d.fa.fs.BlockSize(), "blocks" }

func (d *ext4Diff) sides() (fsSide, fsSide) { return &d.fa, &d.fb }

func (d *ext4Diff) header(r *report, prefix string, a, b *view) error {
	return r.diffSuperblock(prefix, a, b)
}

// region collects the inodes whose slots differ in the inode table blocks
// that differ.
func (d *ext4Diff) region(pa, pb fsRegion) error {
	if ext4r.Kind(pa.kind) != ext4r.KindMeta || pa.what != pb.what || !strings.HasPrefix(pa.what, "inode table of group") {
		return nil
	}
	var err error
	d.inodes, err = changedInodes(d.fa.fs, d.a, d.b, pa.start, pa.len, d.inodes)
	return err
}

func (d *ext4Diff) finish(r *report, prefix string, _, _ []fsFile) error {
	if len(d.inodes) > 0 {
		r.add(prefix, "inodes %s differ", formatInodes(d.inodes, d.fa.files, d.fb.files, r.max))
	}
	return nil
}

func (d *ext4Diff) file(r *report, prefix, p string, a, b fsFile, diff []Range) error {
	ia, ib := a.node.(*ext4r.Inode), b.node.(*ext4r.Inode)
	fa, fb := d.fa.fs, d.fb.fs
	pre := prefix + ": file " + p
	add := func(format string, args ...any) { r.add(pre, format, args...) }
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
	cmp("mtime", ia.ModTime, ib.ModTime)
	cmp("ctime", ia.Ctime, ib.Ctime)
	cmp("atime", ia.Atime, ib.Atime)
	cmp("crtime", ia.Crtime, ib.Crtime)
	xa, err := fa.Xattrs(ia)
	if err != nil {
		return fmt.Errorf("file %s: A: %w", p, err)
	}
	xb, err := fb.Xattrs(ib)
	if err != nil {
		return fmt.Errorf("file %s: B: %w", p, err)
	}
	diffXattrs(add, xa, xb)
	if ia.IsSymlink() {
		ta, err := fa.Symlink(ia)
		if err != nil {
			return fmt.Errorf("file %s: A: %w", p, err)
		}
		tb, err := fb.Symlink(ib)
		if err != nil {
			return fmt.Errorf("file %s: B: %w", p, err)
		}
		cmp("symlink target", fmt.Sprintf("%q", ta), fmt.Sprintf("%q", tb))
	}
	ea, ma, err := fa.Extents(ia)
	if err != nil {
		return fmt.Errorf("file %s: A: %w", p, err)
	}
	eb, mb, err := fb.Extents(ib)
	if err != nil {
		return fmt.Errorf("file %s: B: %w", p, err)
	}
	if x, y := formatExtents(ea, r.max), formatExtents(eb, r.max); x != y {
		add("data blocks %s != %s", x, y)
	}
	if x, y := formatBlocks(ma, r.max), formatBlocks(mb, r.max); x != y {
		add("block map blocks %s != %s", x, y)
	}
	if !ia.IsRegular() {
		return nil
	}
	if ia.Size == ib.Size && !ia.Inline() && !ib.Inline() && sameExtents(ea, eb) && !touched(fa, ea, diff) {
		return nil // same blocks, none of them differ
	}
	bs := fa.BlockSize()
	rs, err := diffRanges(
		readerFunc(func(buf []byte, off int64) (int, error) { return fa.ReadAt(ia, ea, buf, off) }),
		readerFunc(func(buf []byte, off int64) (int, error) { return fb.ReadAt(ib, eb, buf, off) }),
		int64(ia.Size), int64(ib.Size), bs)
	if err != nil {
		return fmt.Errorf("file %s: %w", p, err)
	}
	if len(rs) > 0 {
		add("content differs at bytes %s", formatRanges(clip(rs, int64(max(ia.Size, ib.Size))), r.max))
	}
	return nil
}

// touched reports whether any block of the extents is in a differing range.
func touched(fs *ext4r.FS, ext []ext4r.Extent, diff []Range) bool {
	bs := fs.BlockSize()
	for _, e := range ext {
		if overlaps(diff, int64(e.Physical)*bs, int64(e.Physical+e.Len)*bs) {
			return true
		}
	}
	return false
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

// changedInodes adds to rs the inode numbers whose slots differ in the inode
// table blocks [start, start+count).
func changedInodes(fs *ext4r.FS, a, b *view, start, count uint64, rs []Range) ([]Range, error) {
	bs := fs.BlockSize()
	isz := int64(fs.SB.InodeSize)
	ba := make([]byte, bs)
	bb := make([]byte, bs)
	for blk := start; blk < start+count; blk++ {
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
