package ext4

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/ext4/ondisk"
	"github.com/icos-build/icos/tools/tarpath"
)

// Labeler assigns SELinux contexts. Label returns the context for the file
// at path (absolute, as it appears in the running system) whose type bits
// (S_IFREG, S_IFDIR, ...) are mode; ok is false when the file keeps the
// label it has in the tar (no match or <<none>>).
type Labeler interface {
	Label(path string, mode uint32) (context string, ok bool)
}

// Output is where the image goes: written at offsets, then sized.
type Output interface {
	io.WriterAt
	Truncate(size int64) error
}

// Options control Build. Only Size is required.
type Options struct {
	// Size is the image size in bytes; the output file is exactly this
	// long. The filesystem uses the whole 4 KiB blocks in it.
	Size int64
	// Label is the volume name (at most 16 bytes).
	Label string
	// UUID and HashSeed default to values derived from Label and Size.
	UUID, HashSeed *[16]byte
	// ModTime, when set, is every timestamp the image holds: the atime,
	// ctime, mtime and crtime of every inode and the superblock's mkfs,
	// write and check times. Unset, inodes keep the tar's times and the
	// superblock times are 0.
	ModTime *int64
	// InodeSize is 256 (default), 512 or 1024 bytes.
	InodeSize int
	// InodeRatio is bytes of image per inode (default 16384, or 4096 below
	// 512 MiB, as mke2fs does).
	InodeRatio int
	// Subdir makes this directory of the tar the filesystem root. A tar
	// without it (no entry is it or below it) is an error.
	Subdir string
	// Strip lists directories (relative to the root after Subdir) whose
	// contents are dropped; the directories themselves are kept, or
	// created, as empty mount points.
	Strip []string
	// Labeler, if set, labels every inode with security.selinux.
	Labeler Labeler
	// Journal adds an internal journal of mke2fs's default size.
	Journal bool
}

// node is one inode being built; dirents refer to it.
type node struct {
	ino      Inode
	num      uint32
	explicit bool   // came from a tar entry (not implied by a child)
	path     string // first name, relative to the root
	parent   *node  // directories only
	kids     []kid  // directories only
	subdirs  int
	nlink    int
	exts     extentList
	data     uint64 // data blocks allocated
	xattrs   []Xattr
}

type kid struct {
	name string
	n    *node
}

type builder struct {
	opt       Options
	out       Output
	lay       *layout
	alloc     *allocator
	csumSeed  uint32
	uuid      [16]byte
	hashSeed  [16]byte
	nodes     []*node // in creation order, root and lost+found first
	paths     map[string]*node
	root, lpf *node
	journal   *node  // inode 8, nil without a journal
	short     uint64 // blocks that did not fit
	buf       []byte
	pend      []byte // write-behind buffer for small contiguous writes
	pendOff   int64
	strip     []string
	subdir    string
	inSubdir  bool // an entry of the tar is subdir or below it
}

// DeriveUUID returns the default UUID (or hash seed, with a different
// purpose string) for a label and size: SHA-256 based, version 8 layout.
func DeriveUUID(purpose, label string, size int64) [16]byte {
	h := sha256.Sum256([]byte(fmt.Sprintf("icos-ext4\x00%s\x00%s\x00%d", purpose, label, size)))
	var u [16]byte
	copy(u[:], h[:16])
	u[6] = u[6]&0x0f | 0x80
	u[8] = u[8]&0x3f | 0x80
	return u
}

// Build reads the tar stream r once and writes an ext4 image to out.
func Build(r io.Reader, out Output, opt Options) error {
	b, err := newBuilder(out, opt)
	if err != nil {
		return err
	}
	if err := b.readTar(r); err != nil {
		return err
	}
	return b.finish()
}

func newBuilder(out Output, opt Options) (*builder, error) {
	if opt.InodeSize == 0 {
		opt.InodeSize = 256
	}
	switch opt.InodeSize {
	case 256, 512, 1024:
	default:
		return nil, fmt.Errorf("ext4: inode size %d: want 256, 512 or 1024", opt.InodeSize)
	}
	if opt.InodeRatio == 0 {
		opt.InodeRatio = 16384
		if opt.Size < 512<<20 {
			opt.InodeRatio = 4096
		}
	}
	if opt.InodeRatio < blockSize {
		return nil, fmt.Errorf("ext4: inode ratio %d is below the block size %d", opt.InodeRatio, blockSize)
	}
	if len(opt.Label) > 16 {
		return nil, fmt.Errorf("ext4: label %q is longer than 16 bytes", opt.Label)
	}
	lay, a, err := newLayout(opt.Size, opt.InodeSize, opt.InodeRatio)
	if err != nil {
		return nil, fmt.Errorf("ext4: %w", err)
	}
	b := &builder{opt: opt, out: out, lay: lay, alloc: a, paths: map[string]*node{}, buf: make([]byte, 1<<20), pend: make([]byte, 0, 1<<20)}
	b.uuid = DeriveUUID("uuid", opt.Label, opt.Size)
	if opt.UUID != nil {
		b.uuid = *opt.UUID
	}
	b.hashSeed = DeriveUUID("hash_seed", opt.Label, opt.Size)
	if opt.HashSeed != nil {
		b.hashSeed = *opt.HashSeed
	}
	b.csumSeed = crc32c(^uint32(0), b.uuid[:])
	if opt.Subdir != "" {
		if b.subdir, err = tarpath.Clean(opt.Subdir); err != nil {
			return nil, fmt.Errorf("ext4: subdir: %w", err)
		}
	}
	if opt.Journal {
		if err := b.addJournal(); errors.Is(err, errNoSpace) {
			return nil, fmt.Errorf("ext4: size %d bytes is too small for a journal", opt.Size)
		} else if err != nil {
			return nil, fmt.Errorf("ext4: journal: %w", err)
		}
	}
	fixed := b.fixedTime(0)
	b.root = b.newNode("", ondisk.ModeDir|0o755, fixed)
	b.root.parent = b.root
	b.lpf = b.newNode("lost+found", ondisk.ModeDir|0o700, fixed)
	b.link(b.root, "lost+found", b.lpf)
	for _, s := range opt.Strip {
		c, err := tarpath.Clean(s)
		if err != nil {
			return nil, fmt.Errorf("ext4: strip: %w", err)
		}
		if c == "" {
			return nil, fmt.Errorf("ext4: strip: %q names the root", s)
		}
		b.strip = append(b.strip, c)
		if _, err := b.ensureDir(c, "--strip "+s); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// fixedTime is the time of an inode no tar entry describes (root, implied
// directories, lost+found, journal): Options.ModTime, else sec.
func (b *builder) fixedTime(sec int64) Timespec {
	if b.opt.ModTime != nil {
		sec = *b.opt.ModTime
	}
	return Timespec{Sec: sec}
}

func (b *builder) newNode(path string, mode uint16, t Timespec) *node {
	n := &node{path: path}
	n.ino.Mode = mode
	n.ino.Atime, n.ino.Ctime, n.ino.ModTime, n.ino.Crtime = t, t, t, t
	b.nodes = append(b.nodes, n)
	b.paths[path] = n
	return n
}

func (b *builder) link(dir *node, name string, n *node) {
	dir.kids = append(dir.kids, kid{name, n})
	n.nlink++
	if n.ino.Mode&ondisk.ModeType == ondisk.ModeDir {
		n.parent = dir
		dir.subdirs++
	}
}

// ensureDir returns the directory at path, creating it and its parents as
// implicit directories (mode 0755, root-owned) when absent.
func (b *builder) ensureDir(path, entry string) (*node, error) {
	if n, ok := b.paths[path]; ok {
		if n.ino.Mode&ondisk.ModeType != ondisk.ModeDir {
			return nil, fmt.Errorf("ext4: entry %q: %q is not a directory", entry, path)
		}
		return n, nil
	}
	parent, err := b.ensureDir(tarpath.Parent(path), entry)
	if err != nil {
		return nil, err
	}
	n := b.newNode(path, ondisk.ModeDir|0o755, b.fixedTime(0))
	b.link(parent, base(path), n)
	return n, nil
}

func base(p string) string { return p[strings.LastIndexByte(p, '/')+1:] }

// mapName applies Subdir and Strip to a cleaned tar name.
func (b *builder) mapName(name string) (rel string, keep bool) {
	if b.subdir != "" {
		switch {
		case name == b.subdir:
			name, b.inSubdir = "", true
		case strings.HasPrefix(name, b.subdir+"/"):
			name, b.inSubdir = name[len(b.subdir)+1:], true
		default:
			return "", false
		}
	}
	for _, s := range b.strip {
		if strings.HasPrefix(name, s+"/") {
			return "", false
		}
	}
	return name, true
}

func (b *builder) readTar(r io.Reader) error {
	tr := tar.NewReader(bufio.NewReaderSize(r, 64<<10))
	last := ""
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			if last == "" {
				return fmt.Errorf("ext4: reading tar: %w", err)
			}
			return fmt.Errorf("ext4: reading tar after entry %q: %w", last, err)
		}
		last = hdr.Name
		if err := b.entry(tr, hdr); err != nil {
			return err
		}
	}
	if b.subdir != "" && !b.inSubdir {
		return fmt.Errorf("%w: no entry is %q or below it", ErrNoSubdir, b.subdir)
	}
	if b.short > 0 {
		need := int64(b.alloc.blocks)*blockSize + int64(b.short)*blockSize
		return fmt.Errorf("%w: it needs more than %d bytes, the image size is %d bytes", ErrNoSpace, need, b.opt.Size)
	}
	return nil
}

func tsFrom(t time.Time) Timespec { return Timespec{Sec: t.Unix(), Nsec: uint32(t.Nanosecond())} }

// entryTime is the time stored for a time t of a tar entry:
// Options.ModTime when set, else t.
func (b *builder) entryTime(t Timespec) Timespec {
	if b.opt.ModTime != nil {
		return Timespec{Sec: *b.opt.ModTime}
	}
	return t
}

const (
	minTime = math.MinInt32
	maxTime = math.MaxInt32 + 3<<32
)

func (b *builder) entry(tr *tar.Reader, hdr *tar.Header) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := tarpath.Clean(hdr.Name)
	if err != nil {
		return fmt.Errorf("ext4: entry %q: %w", hdr.Name, err)
	}
	rel, keep := b.mapName(name)
	if !keep {
		return nil
	}
	fail := func(format string, args ...any) error {
		return fmt.Errorf("ext4: entry %q: %s", hdr.Name, fmt.Sprintf(format, args...))
	}

	if hdr.Typeflag == tar.TypeLink {
		t, err := tarpath.CleanHardlink(hdr.Name, hdr.Linkname)
		if err != nil {
			return fmt.Errorf("ext4: entry %q: %w", hdr.Name, err)
		}
		trel, ok := b.mapName(t)
		target := b.paths[trel]
		if !ok || target == nil || trel == "" {
			return fail("hard link target %q is not an earlier entry of the tree", hdr.Linkname)
		}
		if target.ino.Mode&ondisk.ModeType == ondisk.ModeDir {
			return fail("hard link to directory %q", hdr.Linkname)
		}
		if rel == "" {
			return fail("hard link as the root directory")
		}
		if _, dup := b.paths[rel]; dup {
			return fail("duplicate entry")
		}
		if target.nlink >= ondisk.LinkMax {
			return fail("more than %d hard links to %q", ondisk.LinkMax, hdr.Linkname)
		}
		parent, err := b.ensureDir(tarpath.Parent(rel), hdr.Name)
		if err != nil {
			return err
		}
		b.paths[rel] = target
		b.link(parent, base(rel), target)
		return nil
	}

	var mode uint16
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse, tar.TypeCont:
		mode = ondisk.ModeRegular
	case tar.TypeDir:
		mode = ondisk.ModeDir
	case tar.TypeSymlink:
		mode = ondisk.ModeSymlink
		if err := tarpath.CheckSymlink(hdr.Name, hdr.Linkname); err != nil {
			return fmt.Errorf("ext4: entry %q: %w", hdr.Name, err)
		}
	case tar.TypeChar:
		mode = ondisk.ModeChar
	case tar.TypeBlock:
		mode = ondisk.ModeBlock
	case tar.TypeFifo:
		mode = ondisk.ModeFIFO
	default:
		return fail("unsupported tar entry type %q", string(hdr.Typeflag))
	}
	mode |= uint16(hdr.Mode & 0o7777)
	if hdr.Uid < 0 || int64(hdr.Uid) > math.MaxUint32 || hdr.Gid < 0 || int64(hdr.Gid) > math.MaxUint32 {
		return fail("uid/gid %d/%d out of range", hdr.Uid, hdr.Gid)
	}
	mt := tsFrom(hdr.ModTime)
	at, ct := mt, mt
	if !hdr.AccessTime.IsZero() {
		at = tsFrom(hdr.AccessTime)
	}
	if !hdr.ChangeTime.IsZero() {
		ct = tsFrom(hdr.ChangeTime)
	}
	for _, t := range []Timespec{mt, at, ct} {
		if t.Sec < minTime || t.Sec > maxTime {
			return fail("timestamp %d outside the ext4 range", t.Sec)
		}
	}
	var xattrs []Xattr
	keys := make([]string, 0, len(hdr.PAXRecords))
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		x, err := ParseXattr(strings.TrimPrefix(k, "SCHILY.xattr."), []byte(hdr.PAXRecords[k]))
		if err != nil {
			return fail("%v", err)
		}
		xattrs = append(xattrs, x)
	}

	var n *node
	if old, ok := b.paths[rel]; ok {
		if old.explicit || old.ino.Mode&ondisk.ModeType != ondisk.ModeDir || mode&ondisk.ModeType != ondisk.ModeDir {
			if rel == "lost+found" && !old.explicit && mode&ondisk.ModeType != ondisk.ModeDir {
				return fail("lost+found must be a directory")
			}
			return fail("duplicate entry")
		}
		n = old // an implied directory (or the root) gets its real metadata
	} else {
		parent, err := b.ensureDir(tarpath.Parent(rel), hdr.Name)
		if err != nil {
			return err
		}
		n = b.newNode(rel, mode, mt)
		b.link(parent, base(rel), n)
	}
	n.explicit = true
	n.ino.Mode = mode
	n.ino.UID, n.ino.GID = uint32(hdr.Uid), uint32(hdr.Gid)
	n.ino.ModTime, n.ino.Atime, n.ino.Ctime, n.ino.Crtime = b.entryTime(mt), b.entryTime(at), b.entryTime(ct), b.entryTime(mt)
	n.xattrs = xattrs

	switch mode & ondisk.ModeType {
	case ondisk.ModeRegular:
		if err := b.readData(n, tr, hdr.Size); err != nil {
			return fmt.Errorf("ext4: entry %q: %w", hdr.Name, err)
		}
	case ondisk.ModeSymlink:
		n.ino.Size = uint64(len(hdr.Linkname))
		if len(hdr.Linkname) < 60 {
			copy(n.ino.Block[:], hdr.Linkname)
		} else {
			blk := make([]byte, blockSize)
			copy(blk, hdr.Linkname)
			if err := b.writeBlocks(n, 0, blk); err != nil {
				return fmt.Errorf("ext4: entry %q: %w", hdr.Name, err)
			}
		}
	case ondisk.ModeChar, ondisk.ModeBlock:
		if hdr.Devmajor < 0 || hdr.Devmajor > 0xfff || hdr.Devminor < 0 || hdr.Devminor > 0xfffff {
			return fail("device number %d:%d out of range", hdr.Devmajor, hdr.Devminor)
		}
		encodeDev(&n.ino.Block, uint32(hdr.Devmajor), uint32(hdr.Devminor))
	}
	return nil
}

// writeBlocks stores data (a whole number of blocks) as logical blocks
// starting at lblk of n, allocating physical blocks in order.
func (b *builder) writeBlocks(n *node, lblk uint32, data []byte) error {
	for len(data) > 0 {
		want := uint32(len(data) / blockSize)
		start, got, err := b.alloc.alloc(want)
		if err == errNoSpace {
			b.short += uint64(want)
			return nil
		}
		if b.short == 0 {
			if _, err := b.writeAt(data[:got*blockSize], int64(start)*blockSize); err != nil {
				return fmt.Errorf("writing image: %w", err)
			}
		}
		n.exts.add(lblk, start, got)
		n.data += uint64(got)
		lblk += got
		data = data[got*blockSize:]
	}
	return nil
}

var zeroBlock = make([]byte, blockSize)

// readData streams a regular file's content into the image. All-zero
// blocks become holes.
func (b *builder) readData(n *node, r io.Reader, size int64) error {
	if size < 0 || size > int64(math.MaxUint32)*blockSize {
		return fmt.Errorf("file size %d is out of range", size)
	}
	n.ino.Size = uint64(size)
	var lblk uint32
	for remaining := size; remaining > 0; {
		k := int(min(int64(len(b.buf)), remaining))
		if _, err := io.ReadFull(r, b.buf[:k]); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("reading data: %w", err)
		}
		remaining -= int64(k)
		padded := (k + blockSize - 1) &^ (blockSize - 1)
		clear(b.buf[k:padded])
		chunk := b.buf[:padded]
		nblk := padded / blockSize
		for i := 0; i < nblk; {
			if bytes.Equal(chunk[i*blockSize:(i+1)*blockSize], zeroBlock) {
				i++
				continue
			}
			j := i + 1
			for j < nblk && !bytes.Equal(chunk[j*blockSize:(j+1)*blockSize], zeroBlock) {
				j++
			}
			if err := b.writeBlocks(n, lblk+uint32(i), chunk[i*blockSize:j*blockSize]); err != nil {
				return err
			}
			i = j
		}
		lblk += uint32(nblk)
	}
	return nil
}

// finish lays out the metadata once every entry is known.
func (b *builder) finish() error {
	lay := b.lay
	total := uint64(lay.ipg) * uint64(lay.groups)
	need := uint64(len(b.nodes)) + ondisk.GoodOldFirstIno - 2 // root is 2, 3..10 reserved
	if need > total {
		return fmt.Errorf("ext4: %d inodes needed, the image has %d (use a larger size or a lower inode ratio)", need, total)
	}
	// Inode numbers: root 2, lost+found 11, the rest in creation order.
	byNum := make([]*node, need+1)
	b.root.num, b.lpf.num = ondisk.RootIno, ondisk.GoodOldFirstIno
	byNum[ondisk.RootIno], byNum[ondisk.GoodOldFirstIno] = b.root, b.lpf
	if b.journal != nil {
		byNum[ondisk.JournalIno] = b.journal
		if err := b.finishInode(b.journal); err != nil {
			return err
		}
	}
	next := uint32(ondisk.GoodOldFirstIno + 1)
	for _, n := range b.nodes[2:] {
		n.num = next
		byNum[next] = n
		next++
	}
	if b.opt.Labeler != nil {
		for _, n := range b.nodes {
			p := "/" + n.path
			if b.subdir != "" {
				p = strings.TrimSuffix("/"+b.subdir+"/"+n.path, "/")
			}
			ctx, ok := b.opt.Labeler.Label(p, uint32(n.ino.Mode&ondisk.ModeType))
			if !ok {
				continue
			}
			x := Xattr{Index: 6, Name: "selinux", Value: append([]byte(ctx), 0)}
			n.xattrs = slices.DeleteFunc(n.xattrs, func(a Xattr) bool { return a.Index == 6 && a.Name == "selinux" })
			n.xattrs = append(n.xattrs, x)
		}
	}
	for _, n := range b.nodes {
		if n.ino.Mode&ondisk.ModeType == ondisk.ModeDir {
			if err := b.writeDir(n); err != nil {
				return err
			}
		}
	}
	for _, n := range b.nodes {
		if err := b.finishInode(n); err != nil {
			return err
		}
	}
	if b.short > 0 {
		need := int64(b.alloc.blocks)*blockSize + int64(b.short)*blockSize
		return fmt.Errorf("%w: it needs more than %d bytes, the image size is %d bytes", ErrNoSpace, need, b.opt.Size)
	}
	if err := b.writeInodeTables(byNum); err != nil {
		return err
	}
	if err := b.writeGroups(byNum, next-1); err != nil {
		return err
	}
	if err := b.flush(); err != nil {
		return fmt.Errorf("ext4: writing image: %w", err)
	}
	if err := b.out.Truncate(b.opt.Size); err != nil {
		return fmt.Errorf("ext4: sizing image: %w", err)
	}
	return nil
}

func (b *builder) writeDir(n *node) error {
	slices.SortFunc(n.kids, func(a, c kid) int { return strings.Compare(a.name, c.name) })
	ents := make([]DirEntry, 0, len(n.kids)+2)
	ents = append(ents, DirEntry{n.num, ondisk.FileTypeDir, "."}, DirEntry{n.parent.num, ondisk.FileTypeDir, ".."})
	for _, k := range n.kids {
		ents = append(ents, DirEntry{k.n.num, fileType(k.n.ino.Mode), k.name})
	}
	minBlocks := 1
	if n == b.lpf {
		minBlocks = 4
	}
	data := linearDirBlocks(ents, minBlocks)
	seed := inodeSeed(b.csumSeed, n.num)
	indexed := false
	if len(data) > blockSize && n != b.lpf {
		// Like the kernel, index directories that outgrow one block.
		var hs [4]uint32
		for i := range hs {
			hs[i] = binary.LittleEndian.Uint32(b.hashSeed[4*i:])
		}
		if d, ok := htreeDirBlocks(n.num, n.parent.num, ents[2:], &hs, seed); ok {
			data, indexed = d, true
			n.ino.Flags |= ondisk.InodeFlagIndex
		}
	}
	for off := 0; !indexed && off < len(data); off += blockSize {
		sealDirBlock(data[off:off+blockSize], seed)
	}
	n.ino.Size = uint64(len(data))
	if err := b.writeBlocks(n, 0, data); err != nil {
		return fmt.Errorf("ext4: directory %q: %w", "/"+n.path, err)
	}
	return nil
}

// finishInode allocates extent tree and EA blocks and fills the fields
// that depend on them.
func (b *builder) finishInode(n *node) error {
	in := &n.ino
	where := func(err error) error { return fmt.Errorf("ext4: %q (inode %d): %w", "/"+n.path, n.num, err) }
	blocks := n.data
	typ := in.Mode & ondisk.ModeType
	if typ == ondisk.ModeRegular || typ == ondisk.ModeDir || (typ == ondisk.ModeSymlink && in.Size >= 60) {
		in.Flags |= ondisk.InodeFlagExtents
		tb := make([]uint32, treeBlocks(len(n.exts)))
		for i := range tb {
			s, _, err := b.alloc.alloc(1)
			if err != nil {
				b.short++
				continue
			}
			tb[i] = s
		}
		if b.short == 0 {
			seed := inodeSeed(b.csumSeed, n.num)
			err := buildExtentTree(&in.Block, n.exts, tb, seed, func(blk uint32, p []byte) error {
				_, err := b.writeAt(p, int64(blk)*blockSize)
				return err
			})
			if err != nil {
				return where(err)
			}
		}
		blocks += uint64(len(tb))
	}
	if n.ino.Mode&ondisk.ModeType == ondisk.ModeDir {
		links := 2 + n.subdirs
		if links > ondisk.LinkMax {
			links = 1 // dir_nlink: too many to count
		}
		in.LinksCount = uint16(links)
	} else {
		in.LinksCount = uint16(n.nlink)
	}
	inInode, inBlock, err := splitXattrs(n.xattrs, b.lay.inodeSize-128-extraIsize)
	if err != nil {
		return where(err)
	}
	in.InlineXattr = inodeXattrs(inInode, b.lay.inodeSize-128-extraIsize)
	if len(inBlock) > 0 {
		blk, _, err := b.alloc.alloc(1)
		if err != nil {
			b.short++
		} else if b.short == 0 {
			if _, err := b.writeAt(xattrBlock(inBlock, blk, b.csumSeed), int64(blk)*blockSize); err != nil {
				return where(err)
			}
		}
		in.FileACL = blk
		blocks++
	}
	in.Blocks = blocks * (blockSize / 512)
	return nil
}

func (b *builder) writeInodeTables(byNum []*node) error {
	lay := b.lay
	isz := lay.inodeSize
	buf := make([]byte, int(lay.ipg)*isz)
	for g := uint32(0); g < lay.groups; g++ {
		first := g*lay.ipg + 1
		if int(first) >= len(byNum) {
			break
		}
		clear(buf)
		for i := uint32(0); i < lay.ipg && int(first+i) < len(byNum); i++ {
			if n := byNum[first+i]; n != nil {
				n.ino.marshal(buf[int(i)*isz:int(i+1)*isz], b.csumSeed, first+i)
			}
		}
		if _, err := b.writeAt(buf, int64(lay.inodeTable[g])*blockSize); err != nil {
			return fmt.Errorf("ext4: writing inode table %d: %w", g, err)
		}
	}
	return nil
}

// writeGroups writes bitmaps, group descriptors and superblocks. Inodes
// 1..lastIno are in use.
func (b *builder) writeGroups(byNum []*node, lastIno uint32) error {
	lay := b.lay
	gdt := make([]byte, lay.gdtBlocks*blockSize)
	ibm := make([]byte, blockSize)
	var freeBlocks, freeInodes uint64
	for g := uint32(0); g < lay.groups; g++ {
		bbm := b.alloc.used[g*blockSize : (g+1)*blockSize]
		free := 0
		for _, c := range bbm {
			free += 8 - popcount(c)
		}
		clear(ibm)
		first := g*lay.ipg + 1
		usedInodes := uint32(0)
		if lastIno >= first {
			usedInodes = min(lastIno-first+1, lay.ipg)
		}
		bitmap(ibm).setRange(0, uint64(usedInodes))
		bitmap(ibm).setRange(uint64(lay.ipg), uint64(blockSize*8-lay.ipg))
		dirs := 0
		for i := uint32(0); i < usedInodes; i++ {
			if n := byNum[first+i]; n != nil && n.ino.Mode&ondisk.ModeType == ondisk.ModeDir {
				dirs++
			}
		}
		d := GroupDesc{
			BlockBitmap:     lay.blockBitmap[g],
			InodeBitmap:     lay.inodeBitmap[g],
			InodeTable:      lay.inodeTable[g],
			FreeBlocks:      uint16(free),
			FreeInodes:      uint16(lay.ipg - usedInodes),
			UsedDirs:        uint16(dirs),
			Flags:           ondisk.BgInodeTableZeroed,
			BlockBitmapCsum: uint16(crc32c(b.csumSeed, bbm)),
			InodeBitmapCsum: uint16(crc32c(b.csumSeed, ibm[:lay.ipg/8])),
			ItableUnused:    uint16(lay.ipg - usedInodes),
		}
		d.marshal(gdt[g*ondisk.DescSize:], b.csumSeed, g)
		freeBlocks += uint64(free)
		freeInodes += uint64(lay.ipg - usedInodes)
		if _, err := b.writeAt(bbm, int64(lay.blockBitmap[g])*blockSize); err != nil {
			return fmt.Errorf("ext4: writing block bitmap %d: %w", g, err)
		}
		if _, err := b.writeAt(ibm, int64(lay.inodeBitmap[g])*blockSize); err != nil {
			return fmt.Errorf("ext4: writing inode bitmap %d: %w", g, err)
		}
	}
	var sbTime uint32
	if b.opt.ModTime != nil {
		sbTime = uint32(*b.opt.ModTime)
	}
	sb := Superblock{
		InodesCount:     lay.ipg * lay.groups,
		BlocksCount:     lay.blocks,
		FreeBlocksCount: uint32(freeBlocks),
		FreeInodesCount: uint32(freeInodes),
		InodesPerGroup:  lay.ipg,
		Time:            sbTime,
		InodeSize:       uint16(lay.inodeSize),
		FeatureCompat:   ondisk.CompatExtAttr | ondisk.CompatDirIndex,
		FeatureIncompat: ondisk.IncompatFiletype | ondisk.IncompatExtents | ondisk.IncompatFlexBG,
		FeatureRoCompat: ondisk.ROCompatSparseSuper | ondisk.ROCompatLargeFile | ondisk.ROCompatHugeFile | ondisk.ROCompatDirNlink | ondisk.ROCompatExtraIsize | ondisk.ROCompatMetadataCsum,
		UUID:            b.uuid,
		HashSeed:        b.hashSeed,
	}
	copy(sb.VolumeName[:], b.opt.Label)
	if j := b.journal; j != nil {
		sb.FeatureCompat |= ondisk.CompatHasJournal
		sb.JournalInum = ondisk.JournalIno
		for i := range 15 {
			sb.JournalBlocks[i] = binary.LittleEndian.Uint32(j.ino.Block[4*i:])
		}
		sb.JournalBlocks[15] = uint32(j.ino.Size >> 32)
		sb.JournalBlocks[16] = uint32(j.ino.Size)
	}
	for g := uint32(0); g < lay.groups; g++ {
		if !hasSuper(g) {
			continue
		}
		sb.BlockGroupNr = uint16(g)
		raw, _ := sb.MarshalBinary()
		off := int64(g) * blocksPerGroup * blockSize
		if g == 0 {
			off = 1024
		}
		if _, err := b.writeAt(raw, off); err != nil {
			return fmt.Errorf("ext4: writing superblock %d: %w", g, err)
		}
		if _, err := b.writeAt(gdt, (int64(g)*blocksPerGroup+1)*blockSize); err != nil {
			return fmt.Errorf("ext4: writing group descriptors %d: %w", g, err)
		}
	}
	return nil
}

func popcount(c byte) int {
	n := 0
	for ; c != 0; c &= c - 1 {
		n++
	}
	return n
}

// ErrNoSpace reports content that does not fit the image.
var ErrNoSpace = errors.New("ext4: content does not fit")

// ErrNoSubdir reports a tar without the directory Options.Subdir names.
var ErrNoSubdir = errors.New("ext4: subdir not in the tar")

// writeAt writes p at off, gathering small writes to consecutive offsets
// (the data of small files, directory blocks) into one system call.
// Writes never overlap, so their order does not matter.
func (b *builder) writeAt(p []byte, off int64) (int, error) {
	if len(b.pend) > 0 && (off != b.pendOff+int64(len(b.pend)) || len(b.pend)+len(p) > cap(b.pend)) {
		if err := b.flush(); err != nil {
			return 0, err
		}
	}
	if len(p) >= cap(b.pend)/2 {
		return b.out.WriteAt(p, off)
	}
	if len(b.pend) == 0 {
		b.pendOff = off
	}
	b.pend = append(b.pend, p...)
	return len(p), nil
}

// flush writes the gathered writes. Like writeAt it returns the output's
// error as is; callers say what was being written.
func (b *builder) flush() error {
	if len(b.pend) == 0 {
		return nil
	}
	_, err := b.out.WriteAt(b.pend, b.pendOff)
	b.pend = b.pend[:0]
	return err
}
