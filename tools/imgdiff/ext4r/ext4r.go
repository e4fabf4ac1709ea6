// Package ext4r reads ext2/3/4 filesystem images without writing to them:
// superblock, group descriptors (32- and 64-byte), inodes, extent trees of
// any depth and block-mapped (indirect) files, inline data, fast and slow
// symlinks, linear and htree directories (read as linear leaf blocks) and
// extended attributes stored in the inode and in an EA block.
//
// It exists to explain differences between images (tools/imgdiff), so besides
// files it tells what every block of the filesystem is used for (Layout).
// Layout follows the kernel's Documentation/filesystems/ext4 description;
// meta_bg and the ea_inode feature are rejected with an error.
package ext4r

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// ErrNotExt4 is returned by Open when the superblock magic is missing.
var ErrNotExt4 = errors.New("ext4r: no ext2/3/4 superblock magic")

// Superblock holds the superblock fields the reader uses.
type Superblock struct {
	InodesCount     uint32
	BlocksCount     uint64
	FirstDataBlock  uint32
	BlockSize       uint32
	BlocksPerGroup  uint32
	InodesPerGroup  uint32
	FirstIno        uint32
	InodeSize       uint16
	FeatureCompat   uint32
	FeatureIncompat uint32
	FeatureROCompat uint32
	ReservedGDT     uint16
	DescSize        uint16
	JournalIno      uint32
	UUID            [16]byte
}

// Group is one block group descriptor.
type Group struct {
	BlockBitmap uint64
	InodeBitmap uint64
	InodeTable  uint64
}

// Time is an inode timestamp: seconds since the epoch and nanoseconds.
type Time struct {
	Sec  int64
	Nsec uint32
}

// String formats t as seconds, with nanoseconds when they are not zero.
func (t Time) String() string {
	if t.Nsec == 0 {
		return fmt.Sprintf("%d", t.Sec)
	}
	return fmt.Sprintf("%d.%09d", t.Sec, t.Nsec)
}

// Extent maps Len blocks of a file starting at file block Logical to the
// filesystem blocks starting at Physical. Uninit extents read as zeros.
type Extent struct {
	Logical  uint64
	Physical uint64
	Len      uint64
	Uninit   bool
}

// Xattr is one extended attribute with its full name ("security.selinux").
type Xattr struct {
	Name  string
	Value []byte
}

// Inode is a decoded inode.
type Inode struct {
	Ino        uint32
	Mode       uint16 // type (ondisk.Mode*) and permission bits as in st_mode
	UID, GID   uint32
	Size       uint64
	Links      uint16
	Flags      uint32
	Generation uint32
	Atime      Time
	Ctime      Time
	ModTime    Time
	Crtime     Time
	Rdev       uint32 // device number of character and block devices
	FileACL    uint64 // EA block, 0 if none
	Blocks     uint64 // i_blocks as stored (units of 512 bytes unless huge)

	raw    []byte
	iblock []byte
}

// IsDir reports whether the inode is a directory.
func (in *Inode) IsDir() bool { return in.Mode&ondisk.ModeType == ondisk.ModeDir }

// IsSymlink reports whether the inode is a symbolic link.
func (in *Inode) IsSymlink() bool { return in.Mode&ondisk.ModeType == ondisk.ModeSymlink }

// IsRegular reports whether the inode is a regular file.
func (in *Inode) IsRegular() bool { return in.Mode&ondisk.ModeType == ondisk.ModeRegular }

// Inline reports whether the inode's data lives in the inode itself (fast
// symlinks and inline data), so it owns no data blocks.
func (in *Inode) Inline() bool {
	if in.Flags&ondisk.InodeFlagInlineData != 0 {
		return true
	}
	// As e2fsprogs decides: a symlink whose target fits in i_block.
	return in.IsSymlink() && in.Flags&ondisk.InodeFlagExtents == 0 && in.Size < ondisk.InodeBlockLen
}

// FS is an opened filesystem.
type FS struct {
	r      io.ReaderAt
	off    int64
	SB     Superblock
	Groups []Group
	bs     int64
}

// Open reads the superblock and group descriptors of the filesystem that
// starts at byte off of r.
func Open(r io.ReaderAt, off int64) (*FS, error) {
	b := make([]byte, ondisk.SuperblockSize)
	if _, err := r.ReadAt(b, off+ondisk.SuperblockOffset); err != nil {
		return nil, fmt.Errorf("ext4r: read superblock: %w", noEOF(err))
	}
	le := binary.LittleEndian
	if le.Uint16(b[0x38:]) != ondisk.Magic {
		return nil, ErrNotExt4
	}
	sb := Superblock{
		InodesCount:     le.Uint32(b[0:]),
		BlocksCount:     uint64(le.Uint32(b[4:])),
		FirstDataBlock:  le.Uint32(b[0x14:]),
		BlocksPerGroup:  le.Uint32(b[0x20:]),
		InodesPerGroup:  le.Uint32(b[0x28:]),
		FirstIno:        ondisk.GoodOldFirstIno,
		InodeSize:       ondisk.GoodOldInodeSize,
		FeatureCompat:   le.Uint32(b[0x5C:]),
		FeatureIncompat: le.Uint32(b[0x60:]),
		FeatureROCompat: le.Uint32(b[0x64:]),
		ReservedGDT:     le.Uint16(b[0xCE:]),
		JournalIno:      le.Uint32(b[0xE0:]),
		DescSize:        ondisk.DescSize,
	}
	copy(sb.UUID[:], b[0x68:0x78])
	logBS := le.Uint32(b[0x18:])
	if logBS > 6 {
		return nil, fmt.Errorf("ext4r: superblock: bad block size log %d", logBS)
	}
	sb.BlockSize = 1024 << logBS
	if le.Uint32(b[0x4C:]) >= ondisk.RevDynamic {
		sb.FirstIno = le.Uint32(b[0x54:])
		sb.InodeSize = le.Uint16(b[0x58:])
	}
	if sb.FeatureIncompat&ondisk.Incompat64bit != 0 {
		sb.BlocksCount |= uint64(le.Uint32(b[0x150:])) << 32
		sb.DescSize = le.Uint16(b[0xFE:])
		if sb.DescSize < ondisk.DescSize {
			sb.DescSize = ondisk.DescSize
		}
	}
	switch {
	case sb.FeatureIncompat&ondisk.IncompatMetaBG != 0:
		return nil, fmt.Errorf("ext4r: meta_bg is not supported")
	case sb.FeatureIncompat&ondisk.IncompatEAInode != 0:
		return nil, fmt.Errorf("ext4r: ea_inode is not supported")
	case sb.FeatureCompat&ondisk.CompatSparseSuper2 != 0:
		return nil, fmt.Errorf("ext4r: sparse_super2 is not supported")
	case sb.BlocksPerGroup == 0 || sb.InodesPerGroup == 0 || sb.InodeSize < ondisk.GoodOldInodeSize:
		return nil, fmt.Errorf("ext4r: superblock: bad geometry")
	}
	fs := &FS{r: r, off: off, SB: sb, bs: int64(sb.BlockSize)}
	n := (sb.BlocksCount - uint64(sb.FirstDataBlock) + uint64(sb.BlocksPerGroup) - 1) / uint64(sb.BlocksPerGroup)
	if n == 0 || n > 1<<24 {
		return nil, fmt.Errorf("ext4r: superblock: bad group count %d", n)
	}
	gd := make([]byte, int64(n)*int64(sb.DescSize))
	if _, err := r.ReadAt(gd, off+int64(sb.FirstDataBlock+1)*fs.bs); err != nil {
		return nil, fmt.Errorf("ext4r: read group descriptors: %w", noEOF(err))
	}
	fs.Groups = make([]Group, n)
	for i := range fs.Groups {
		d := gd[i*int(sb.DescSize):]
		g := Group{
			BlockBitmap: uint64(le.Uint32(d[0:])),
			InodeBitmap: uint64(le.Uint32(d[4:])),
			InodeTable:  uint64(le.Uint32(d[8:])),
		}
		if sb.DescSize >= ondisk.DescSize64 {
			g.BlockBitmap |= uint64(le.Uint32(d[0x20:])) << 32
			g.InodeBitmap |= uint64(le.Uint32(d[0x24:])) << 32
			g.InodeTable |= uint64(le.Uint32(d[0x28:])) << 32
		}
		fs.Groups[i] = g
	}
	return fs, nil
}

// noEOF turns the end of the image inside a structure into an explicit error.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// BlockSize returns the block size in bytes.
func (fs *FS) BlockSize() int64 { return fs.bs }

// Size returns the filesystem size in bytes.
func (fs *FS) Size() int64 { return int64(fs.SB.BlocksCount) * fs.bs }

func (fs *FS) readBlock(n uint64) ([]byte, error) {
	if n >= fs.SB.BlocksCount {
		return nil, fmt.Errorf("block %d beyond the filesystem (%d blocks)", n, fs.SB.BlocksCount)
	}
	b := make([]byte, fs.bs)
	if _, err := fs.r.ReadAt(b, fs.off+int64(n)*fs.bs); err != nil {
		return nil, fmt.Errorf("read block %d: %w", n, noEOF(err))
	}
	return b, nil
}

// Inode reads inode ino.
func (fs *FS) Inode(ino uint32) (*Inode, error) {
	in, err := fs.inode(ino)
	return in, wrap(err)
}

// wrap prefixes an error of the unexported functions, which carry none, with
// the package name; io.EOF (the end of a file's data) and nil pass as they are.
func wrap(err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	return fmt.Errorf("ext4r: %w", err)
}

func (fs *FS) inode(ino uint32) (*Inode, error) {
	if ino == 0 || ino > fs.SB.InodesCount {
		return nil, fmt.Errorf("inode %d out of range", ino)
	}
	g := (ino - 1) / fs.SB.InodesPerGroup
	idx := (ino - 1) % fs.SB.InodesPerGroup
	raw := make([]byte, fs.SB.InodeSize)
	pos := fs.off + int64(fs.Groups[g].InodeTable)*fs.bs + int64(idx)*int64(fs.SB.InodeSize)
	if _, err := fs.r.ReadAt(raw, pos); err != nil {
		return nil, fmt.Errorf("inode %d: %w", ino, noEOF(err))
	}
	le := binary.LittleEndian
	in := &Inode{
		Ino:        ino,
		Mode:       le.Uint16(raw[0:]),
		UID:        uint32(le.Uint16(raw[2:])) | uint32(le.Uint16(raw[0x78:]))<<16,
		Size:       uint64(le.Uint32(raw[4:])) | uint64(le.Uint32(raw[0x6C:]))<<32,
		Atime:      Time{Sec: int64(int32(le.Uint32(raw[8:])))},
		Ctime:      Time{Sec: int64(int32(le.Uint32(raw[0xC:])))},
		ModTime:    Time{Sec: int64(int32(le.Uint32(raw[0x10:])))},
		GID:        uint32(le.Uint16(raw[0x18:])) | uint32(le.Uint16(raw[0x7A:]))<<16,
		Links:      le.Uint16(raw[0x1A:]),
		Blocks:     uint64(le.Uint32(raw[0x1C:])) | uint64(le.Uint16(raw[0x74:]))<<32,
		Flags:      le.Uint32(raw[0x20:]),
		Generation: le.Uint32(raw[0x64:]),
		FileACL:    uint64(le.Uint32(raw[0x68:])) | uint64(le.Uint16(raw[0x76:]))<<32,
		raw:        raw,
		iblock:     raw[0x28:0x64],
	}
	if t := in.Mode & ondisk.ModeType; t == ondisk.ModeChar || t == ondisk.ModeBlock {
		if d := le.Uint32(in.iblock[0:]); d != 0 {
			in.Rdev = d
		} else {
			in.Rdev = le.Uint32(in.iblock[4:])
		}
	}
	if fs.SB.InodeSize > 128 {
		extra := int(le.Uint16(raw[0x80:]))
		field := func(off int, t *Time) {
			if 0x80+extra >= off+4 {
				v := le.Uint32(raw[off:])
				t.Sec += int64(v&3) << 32
				t.Nsec = v >> 2
			}
		}
		field(0x84, &in.Ctime)
		field(0x88, &in.ModTime)
		field(0x8C, &in.Atime)
		if 0x80+extra >= 0x94 {
			in.Crtime = Time{Sec: int64(int32(le.Uint32(raw[0x90:])))}
		}
		field(0x94, &in.Crtime)
	}
	return in, nil
}

// Extents returns the block map of a file, directory or slow symlink, sorted
// by logical block, and the blocks of the map itself (extent tree index and
// leaf blocks, or indirect blocks). Inline inodes have neither.
func (fs *FS) Extents(in *Inode) (data []Extent, meta []uint64, err error) {
	data, meta, err = fs.extents(in)
	return data, meta, wrap(err)
}

func (fs *FS) extents(in *Inode) (data []Extent, meta []uint64, err error) {
	if in.Inline() {
		return nil, nil, nil
	}
	if t := in.Mode & ondisk.ModeType; t != ondisk.ModeRegular && t != ondisk.ModeDir && t != ondisk.ModeSymlink {
		return nil, nil, nil
	}
	if in.Flags&ondisk.InodeFlagExtents != 0 {
		err = fs.walkExtents(in.iblock, 0, &data, &meta)
	} else {
		err = fs.walkIndirect(in, &data, &meta)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("inode %d: %w", in.Ino, err)
	}
	sort.Slice(data, func(i, j int) bool { return data[i].Logical < data[j].Logical })
	return data, meta, nil
}

func (fs *FS) walkExtents(node []byte, level int, data *[]Extent, meta *[]uint64) error {
	le := binary.LittleEndian
	if len(node) < ondisk.ExtentHeaderLen || le.Uint16(node[0:]) != ondisk.ExtentMagic {
		return fmt.Errorf("bad extent header")
	}
	entries := int(le.Uint16(node[2:]))
	depth := int(le.Uint16(node[6:]))
	if depth > 5 || level > 5 || ondisk.ExtentHeaderLen+entries*ondisk.ExtentEntryLen > len(node) {
		return fmt.Errorf("bad extent node (depth %d, %d entries)", depth, entries)
	}
	for i := 0; i < entries; i++ {
		e := node[ondisk.ExtentHeaderLen+i*ondisk.ExtentEntryLen:]
		if depth == 0 {
			n := uint64(le.Uint16(e[4:]))
			uninit := n > ondisk.MaxInitExtentLen
			if uninit {
				n -= ondisk.MaxInitExtentLen
			}
			*data = append(*data, Extent{
				Logical:  uint64(le.Uint32(e[0:])),
				Physical: uint64(le.Uint32(e[8:])) | uint64(le.Uint16(e[6:]))<<32,
				Len:      n,
				Uninit:   uninit,
			})
			continue
		}
		child := uint64(le.Uint32(e[4:])) | uint64(le.Uint16(e[8:]))<<32
		*meta = append(*meta, child)
		b, err := fs.readBlock(child)
		if err != nil {
			return err
		}
		if err := fs.walkExtents(b, level+1, data, meta); err != nil {
			return fmt.Errorf("extent block %d: %w", child, err)
		}
	}
	return nil
}

func (fs *FS) walkIndirect(in *Inode, data *[]Extent, meta *[]uint64) error {
	le := binary.LittleEndian
	per := uint64(fs.bs / 4)
	add := func(logical, phys uint64) {
		if n := len(*data); n > 0 {
			l := &(*data)[n-1]
			if l.Logical+l.Len == logical && l.Physical+l.Len == phys {
				l.Len++
				return
			}
		}
		*data = append(*data, Extent{Logical: logical, Physical: phys, Len: 1})
	}
	var walk func(blk uint64, level int, logical uint64) error
	walk = func(blk uint64, level int, logical uint64) error {
		*meta = append(*meta, blk)
		b, err := fs.readBlock(blk)
		if err != nil {
			return err
		}
		span := uint64(1)
		for i := 0; i < level; i++ {
			span *= per
		}
		for i := uint64(0); i < per; i++ {
			p := uint64(le.Uint32(b[i*4:]))
			if p == 0 {
				continue
			}
			if level == 0 {
				add(logical+i, p)
			} else if err := walk(p, level-1, logical+i*span); err != nil {
				return err
			}
		}
		return nil
	}
	for i := uint64(0); i < 12; i++ {
		if p := uint64(le.Uint32(in.iblock[i*4:])); p != 0 {
			add(i, p)
		}
	}
	start := uint64(12)
	span := per
	for level := 0; level < 3; level++ {
		if p := uint64(le.Uint32(in.iblock[(12+level)*4:])); p != 0 {
			if err := walk(p, level, start); err != nil {
				return err
			}
		}
		start += span
		span *= per
	}
	return nil
}

// ReadAt reads file content at offset off of the inode's data (holes and
// uninitialized extents read as zeros); it stops at the file size.
func (fs *FS) ReadAt(in *Inode, ext []Extent, p []byte, off int64) (int, error) {
	n, err := fs.readAt(in, ext, p, off)
	return n, wrap(err)
}

func (fs *FS) readAt(in *Inode, ext []Extent, p []byte, off int64) (int, error) {
	size := int64(in.Size)
	if off >= size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > size-off {
		n = int(size - off)
	}
	p = p[:n]
	if in.Flags&ondisk.InodeFlagInlineData != 0 {
		data, err := fs.inlineData(in)
		if err != nil {
			return 0, err
		}
		for i := range p {
			p[i] = 0
		}
		if off < int64(len(data)) {
			copy(p, data[off:])
		}
		return n, nil
	}
	if in.Inline() {
		copy(p, in.iblock[off:])
		return n, nil
	}
	for i := range p {
		p[i] = 0
	}
	end := off + int64(n)
	i := sort.Search(len(ext), func(i int) bool {
		return int64(ext[i].Logical+ext[i].Len)*fs.bs > off
	})
	for ; i < len(ext) && int64(ext[i].Logical)*fs.bs < end; i++ {
		e := ext[i]
		if e.Uninit {
			continue
		}
		s := max(int64(e.Logical)*fs.bs, off)
		t := min(int64(e.Logical+e.Len)*fs.bs, end)
		pos := fs.off + int64(e.Physical)*fs.bs + (s - int64(e.Logical)*fs.bs)
		if _, err := fs.r.ReadAt(p[s-off:t-off], pos); err != nil {
			return 0, fmt.Errorf("inode %d: read: %w", in.Ino, err)
		}
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (fs *FS) inlineData(in *Inode) ([]byte, error) {
	data := append([]byte(nil), in.iblock...)
	xs, err := fs.allXattrs(in)
	if err != nil {
		return nil, err
	}
	for _, x := range xs {
		if x.Name == "system.data" {
			data = append(data, x.Value...)
		}
	}
	return data, nil
}

// ReadAll returns the whole content of a small file (directories, symlinks).
func (fs *FS) ReadAll(in *Inode, ext []Extent) ([]byte, error) {
	b, err := fs.readAll(in, ext)
	return b, wrap(err)
}

func (fs *FS) readAll(in *Inode, ext []Extent) ([]byte, error) {
	if in.Size > 1<<30 {
		return nil, fmt.Errorf("inode %d: too large to read whole (%d bytes)", in.Ino, in.Size)
	}
	b := make([]byte, in.Size)
	if len(b) == 0 {
		return b, nil
	}
	if _, err := fs.readAt(in, ext, b, 0); err != nil && err != io.EOF {
		return nil, err
	}
	return b, nil
}

// Symlink returns the target of a symbolic link.
func (fs *FS) Symlink(in *Inode) (string, error) {
	ext, _, err := fs.extents(in)
	if err != nil {
		return "", wrap(err)
	}
	b, err := fs.readAll(in, ext)
	return string(b), wrap(err)
}

// Dirent is one directory entry.
type Dirent struct {
	Name string
	Ino  uint32
	Type uint8 // file type byte of the entry (ondisk.FileType*)
}

// ReadDir returns the entries of a directory other than "." and "..",
// sorted by name. Htree directories are read through their leaf blocks; the
// index blocks look like empty entries and are skipped.
func (fs *FS) ReadDir(in *Inode) ([]Dirent, error) {
	ents, err := fs.readDir(in)
	return ents, wrap(err)
}

func (fs *FS) readDir(in *Inode) ([]Dirent, error) {
	if !in.IsDir() {
		return nil, fmt.Errorf("inode %d: not a directory", in.Ino)
	}
	ext, _, err := fs.extents(in)
	if err != nil {
		return nil, err
	}
	var out []Dirent
	if in.Flags&ondisk.InodeFlagInlineData != 0 {
		// Inline directories: 4 bytes of parent inode, then entries.
		data, err := fs.inlineData(in)
		if err != nil {
			return nil, err
		}
		if len(data) < 4 {
			return nil, nil
		}
		out, err = parseDirents(data[4:60], in.Ino, out)
		if err == nil && len(data) > 60 {
			out, err = parseDirents(data[60:], in.Ino, out)
		}
		if err != nil {
			return nil, err
		}
	} else {
		b, err := fs.readAll(in, ext)
		if err != nil {
			return nil, err
		}
		for o := int64(0); o < int64(len(b)); o += fs.bs {
			out, err = parseDirents(b[o:min(o+fs.bs, int64(len(b)))], in.Ino, out)
			if err != nil {
				return nil, err
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func parseDirents(b []byte, dir uint32, out []Dirent) ([]Dirent, error) {
	le := binary.LittleEndian
	for o := 0; o+8 <= len(b); {
		ino := le.Uint32(b[o:])
		rec := int(le.Uint16(b[o+4:]))
		nl := int(b[o+6])
		if rec < 8 || o+rec > len(b) || 8+nl > rec {
			return nil, fmt.Errorf("directory inode %d: bad entry at offset %d", dir, o)
		}
		name := string(b[o+8 : o+8+nl])
		if ino != 0 && name != "." && name != ".." {
			out = append(out, Dirent{Name: name, Ino: ino, Type: b[o+7]})
		}
		o += rec
	}
	return out, nil
}

// xattrPrefix maps an attribute name index to the prefix it stands for.
var xattrPrefix = map[byte]string{
	ondisk.XattrIndexUser:            "user.",
	ondisk.XattrIndexPosixACLAccess:  "system.posix_acl_access",
	ondisk.XattrIndexPosixACLDefault: "system.posix_acl_default",
	ondisk.XattrIndexTrusted:         "trusted.",
	ondisk.XattrIndexSecurity:        "security.",
	ondisk.XattrIndexSystem:          "system.",
	ondisk.XattrIndexRichACL:         "system.richacl",
}

// allXattrs returns every extended attribute of the inode, sorted by name.
func (fs *FS) allXattrs(in *Inode) ([]Xattr, error) {
	le := binary.LittleEndian
	var out []Xattr
	if fs.SB.InodeSize > 128 {
		extra := int(le.Uint16(in.raw[0x80:]))
		start := 0x80 + extra
		if start+4 <= len(in.raw) && le.Uint32(in.raw[start:]) == ondisk.XattrMagic {
			region := in.raw[start+4:]
			var err error
			out, err = parseXattrs(region, region, out)
			if err != nil {
				return nil, fmt.Errorf("inode %d: in-inode xattrs: %w", in.Ino, err)
			}
		}
	}
	if in.FileACL != 0 {
		b, err := fs.readBlock(in.FileACL)
		if err != nil {
			return nil, fmt.Errorf("inode %d: xattr block: %w", in.Ino, err)
		}
		if le.Uint32(b) != ondisk.XattrMagic {
			return nil, fmt.Errorf("inode %d: xattr block %d: bad magic", in.Ino, in.FileACL)
		}
		out, err = parseXattrs(b[ondisk.XattrHeaderLen:], b, out)
		if err != nil {
			return nil, fmt.Errorf("inode %d: xattr block %d: %w", in.Ino, in.FileACL, err)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Xattrs returns the extended attributes of the inode (in-inode and EA
// block), sorted by name, without "system.data" (the inline data area, part
// of the content).
func (fs *FS) Xattrs(in *Inode) ([]Xattr, error) {
	all, err := fs.allXattrs(in)
	if err != nil {
		return nil, wrap(err)
	}
	out := all[:0]
	for _, x := range all {
		if x.Name != "system.data" {
			out = append(out, x)
		}
	}
	return out, nil
}

func parseXattrs(entries, values []byte, out []Xattr) ([]Xattr, error) {
	le := binary.LittleEndian
	for o := 0; o+ondisk.XattrEntryLen <= len(entries); {
		if le.Uint32(entries[o:]) == 0 {
			break
		}
		nl := int(entries[o])
		idx := entries[o+1]
		voff := int(le.Uint16(entries[o+2:]))
		if le.Uint32(entries[o+4:]) != 0 {
			return nil, fmt.Errorf("value in an EA inode is not supported")
		}
		vsize := int(le.Uint32(entries[o+8:]))
		if o+ondisk.XattrEntryLen+nl > len(entries) || voff+vsize > len(values) {
			return nil, fmt.Errorf("entry at offset %d out of bounds", o)
		}
		prefix, ok := xattrPrefix[idx]
		if !ok {
			prefix = fmt.Sprintf("index%d.", idx)
		}
		out = append(out, Xattr{
			Name:  prefix + string(entries[o+ondisk.XattrEntryLen:o+ondisk.XattrEntryLen+nl]),
			Value: append([]byte(nil), values[voff:voff+vsize]...),
		})
		o += (ondisk.XattrEntryLen + nl + 3) &^ 3
	}
	return out, nil
}

// File is one entry of the tree returned by Walk.
type File struct {
	Path  string // absolute, "/" for the root
	Inode *Inode
}

// Walk returns every file reachable from the root directory, the root
// included, sorted by path. A directory reached twice (a loop) is an error.
func (fs *FS) Walk() ([]File, error) {
	var out []File
	seen := map[uint32]bool{}
	var visit func(p string, ino uint32) error
	visit = func(p string, ino uint32) error {
		in, err := fs.inode(ino)
		if err != nil {
			return fmt.Errorf("ext4r: %s: %w", p, err)
		}
		out = append(out, File{Path: p, Inode: in})
		if !in.IsDir() {
			return nil
		}
		if seen[ino] {
			return fmt.Errorf("ext4r: %s: directory inode %d reached twice", p, ino)
		}
		seen[ino] = true
		ents, err := fs.readDir(in)
		if err != nil {
			return fmt.Errorf("ext4r: %s: %w", p, err)
		}
		for _, e := range ents {
			if strings.Contains(e.Name, "/") {
				return fmt.Errorf("ext4r: %s: entry name %q contains '/'", p, e.Name)
			}
			if err := visit(path.Join(p, e.Name), e.Ino); err != nil {
				return err
			}
		}
		return nil
	}
	if err := visit("/", ondisk.RootIno); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}
