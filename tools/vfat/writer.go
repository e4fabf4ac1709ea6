package vfat

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/icos-build/icos/tools/tarpath"
)

// Options describe the volume to write.
type Options struct {
	// Size is the exact image size in bytes, a multiple of 512.
	Size int64
	// Type forces FAT12, FAT16 or FAT32; Auto chooses by size like mkfs.fat.
	Type Type
	// ClusterSize forces the cluster size in bytes (a power of two, 512 to
	// 65536); 0 chooses like mkfs.fat.
	ClusterSize int64
	// Label is the volume label (up to 11 characters allowed in short
	// names, upper case); it is written to the boot sector and, unless
	// empty, as a volume-label entry of the root directory.
	Label string
	// Serial is the volume serial number (volume ID).
	Serial uint32
	// ModTime, in Unix seconds, is every timestamp of the volume (creation,
	// access and modification of every entry). DOS time starts at
	// 1980-01-01 00:00:00 and ends at 2107-12-31 23:59:58: earlier or later
	// times are clamped, and it has 2-second resolution (the odd second of
	// creation times goes to the 10 ms field). Times are stored as UTC.
	ModTime int64
}

// ErrNoSpace is wrapped by the error Close returns when the content does not
// fit in the volume.
var ErrNoSpace = errors.New("content does not fit")

// node is a file or directory of the tree being written. It holds its own
// name only, so the tree takes memory linear in the total length of the
// names however deep it is; pathString rebuilds the path for messages.
type node struct {
	name     string // long name (one path component)
	dir      bool
	readOnly bool
	size     int64
	data     extent // clusters (start 0 for empty files)
	parent   *node
	children []*node
	byKey    map[string]*node // children by foldKey, for lookups only

	// Set by Close.
	short [11]byte
	ntres uint8
	lfn   bool
}

// pathString returns the canonical path of n ("" for the root).
func (n *node) pathString() string {
	size := -1
	for c := n; c.parent != nil; c = c.parent {
		size += len(c.name) + 1
	}
	if size < 0 {
		return ""
	}
	b := make([]byte, size)
	for c := n; c.parent != nil; c = c.parent {
		size -= len(c.name)
		copy(b[size:], c.name)
		if size > 0 {
			size--
			b[size] = '/'
		}
	}
	return string(b)
}

// Writer writes a FAT volume to an io.WriterAt. Add files and directories,
// then call Close, which writes the directories, FATs and boot sectors.
//
// The destination must read as zeros wherever the writer does not write: if
// it has a Truncate(int64) error method (like *os.File) it is truncated to
// zero and then to Options.Size by NewWriter. Blocks of zeros (free space,
// unused FAT sectors, zero blocks inside files) are never written, so a
// file destination stays sparse.
type Writer struct {
	dst   io.WriterAt
	g     Geometry
	opts  Options
	label [11]byte
	ts    dosTime
	root  *node

	next      uint32 // first free cluster
	fileClust uint64 // clusters needed by file data, written or not
	full      bool   // file data stopped fitting: only count from now on
	buf       []byte
	dirBuf    []byte // reused by writeDir
	err       error  // sticky: set by the first failure
	closed    bool
}

// NewWriter starts a volume on dst.
func NewWriter(dst io.WriterAt, o Options) (*Writer, error) {
	g, err := Plan(o)
	if err != nil {
		return nil, err
	}
	label, err := volumeLabel(o.Label)
	if err != nil {
		return nil, err
	}
	if t, ok := dst.(interface{ Truncate(int64) error }); ok {
		if err := t.Truncate(0); err != nil {
			return nil, fmt.Errorf("vfat: truncating output: %w", err)
		}
		if err := t.Truncate(o.Size); err != nil {
			return nil, fmt.Errorf("vfat: sizing output to %d bytes: %w", o.Size, err)
		}
	}
	w := &Writer{
		dst:   dst,
		g:     g,
		opts:  o,
		label: label,
		ts:    encodeTime(o.ModTime),
		root:  &node{dir: true, byKey: map[string]*node{}},
		next:  2,
	}
	return w, nil
}

// Geometry returns the layout of the volume being written.
func (w *Writer) Geometry() Geometry { return w.g }

// volumeLabel validates and pads a label.
func volumeLabel(s string) ([11]byte, error) {
	var l [11]byte
	if s == "" {
		copy(l[:], "NO NAME    ")
		return l, nil
	}
	if len(s) > 11 {
		return l, fmt.Errorf("vfat: label %q is longer than 11 characters", s)
	}
	if s[0] == ' ' {
		return l, fmt.Errorf("vfat: label %q starts with a space", s)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' {
			return l, fmt.Errorf("vfat: label %q has lower-case letters (labels are stored in upper case; use %q)", s, strings.ToUpper(s))
		}
		if c != ' ' && !isShortChar(c) {
			return l, fmt.Errorf("vfat: label %q: character %q is not allowed", s, c)
		}
	}
	copy(l[:], s+strings.Repeat(" ", 11-len(s)))
	return l, nil
}

// lookup walks to the node at a canonical path, creating missing
// directories when mkdir is set. It takes time linear in len(p).
func (w *Writer) lookup(p string, mkdir bool) (*node, error) {
	n := w.root
	if p == "" {
		return n, nil
	}
	for prefix, part := range tarpath.Prefixes(p) {
		if !n.dir {
			return nil, fmt.Errorf("vfat: %q: %q is a file, not a directory", p, n.pathString())
		}
		c := n.byKey[foldKey(part)]
		if c == nil {
			if !mkdir {
				return nil, nil
			}
			var err error
			if c, err = w.add(n, prefix, part, true); err != nil {
				return nil, err
			}
		} else if c.name != part {
			return nil, fmt.Errorf("vfat: %q: collides with %q (FAT names ignore case)", prefix, c.pathString())
		}
		n = c
	}
	return n, nil
}

// add creates a child of dir; p is its path, for messages.
func (w *Writer) add(dir *node, p, name string, isDir bool) (*node, error) {
	if err := checkLongName(name); err != nil {
		return nil, fmt.Errorf("vfat: %q: %w", p, err)
	}
	if c := dir.byKey[foldKey(name)]; c != nil {
		if c.name == name {
			return nil, fmt.Errorf("vfat: %q: already exists", p)
		}
		return nil, fmt.Errorf("vfat: %q: collides with %q (FAT names ignore case)", p, c.pathString())
	}
	c := &node{name: name, dir: isDir, parent: dir}
	if isDir {
		c.byKey = map[string]*node{}
	}
	dir.children = append(dir.children, c)
	dir.byKey[foldKey(name)] = c
	return c, nil
}

// split returns the parent directory of p (created if missing) and p's last
// component.
func (w *Writer) split(p string) (*node, string, error) {
	if p == "" {
		return nil, "", fmt.Errorf("vfat: the root directory is not a file")
	}
	parent, name := "", p
	if i := strings.LastIndexByte(p, '/'); i >= 0 {
		parent, name = p[:i], p[i+1:]
	}
	dir, err := w.lookup(parent, true)
	if err != nil {
		return nil, "", err
	}
	if !dir.dir {
		return nil, "", fmt.Errorf("vfat: %q: %q is a file, not a directory", p, dir.pathString())
	}
	return dir, name, nil
}

func (w *Writer) usable() error {
	if w.closed {
		return errors.New("vfat: writer is closed")
	}
	return w.err
}

// Mkdir creates the directory at the canonical path p (slash-separated, no
// leading slash; see tarpath.Clean) and any missing parents. An existing
// directory is not an error.
func (w *Writer) Mkdir(p string) error {
	if err := w.usable(); err != nil {
		return err
	}
	n, err := w.lookup(p, true)
	if err != nil {
		return err
	}
	if !n.dir {
		return fmt.Errorf("vfat: %q: exists and is a file", p)
	}
	return nil
}

// Create adds the regular file at canonical path p holding size bytes read
// from r, creating missing parent directories. The data is written to the
// image before Create returns. readOnly sets the read-only attribute.
//
// Once the content no longer fits, Create stops reading and writing data
// but keeps counting, so that Close can report how much space the whole
// content needs.
func (w *Writer) Create(p string, size int64, r io.Reader, readOnly bool) error {
	n, err := w.newFile(p, size, readOnly)
	if err != nil || n.data.n == 0 {
		return err
	}
	if err := w.copyData(n, r); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Link adds the file at p as a copy of the file already added at target
// (FAT has no hard links). The destination must be an io.ReaderAt.
func (w *Writer) Link(p, target string, readOnly bool) error {
	if err := w.usable(); err != nil {
		return err
	}
	t, err := w.lookup(target, false)
	if err != nil {
		return err
	}
	if t == nil || t.dir {
		return fmt.Errorf("vfat: hard link %q: target %q is not a file added before it", p, target)
	}
	var src io.Reader
	if t.data.n > 0 && !w.full {
		ra, ok := w.dst.(io.ReaderAt)
		if !ok {
			return fmt.Errorf("vfat: hard link %q: the output cannot be read back to copy %q", p, target)
		}
		src = io.NewSectionReader(ra, w.g.ClusterOffset(t.data.start), t.size)
	}
	return w.Create(p, t.size, src, readOnly)
}

// newFile records a file and allocates its clusters.
func (w *Writer) newFile(p string, size int64, readOnly bool) (*node, error) {
	if err := w.usable(); err != nil {
		return nil, err
	}
	if size < 0 || size > 0xFFFFFFFF {
		return nil, fmt.Errorf("vfat: %q: size %d is over the FAT file size limit of 4 GiB - 1", p, size)
	}
	dir, name, err := w.split(p)
	if err != nil {
		return nil, err
	}
	n, err := w.add(dir, p, name, false)
	if err != nil {
		return nil, err
	}
	n.size, n.readOnly = size, readOnly
	cb := w.g.ClusterBytes()
	need := uint64((size + cb - 1) / cb)
	w.fileClust += need
	if need == 0 || w.full {
		return n, nil
	}
	if free := uint64(w.g.Clusters+2) - uint64(w.next); need > free {
		w.full = true
		return n, nil
	}
	n.data = extent{start: w.next, n: uint32(need)}
	w.next += uint32(need)
	return n, nil
}

const (
	copyBuf   = 1 << 20
	zeroBlock = 4096
)

var zeros [zeroBlock]byte

// copyData copies n.size bytes from r into n's clusters.
func (w *Writer) copyData(n *node, r io.Reader) error {
	if w.buf == nil {
		w.buf = make([]byte, copyBuf)
	}
	off := w.g.ClusterOffset(n.data.start)
	for left := n.size; left > 0; {
		b := w.buf[:min(int64(len(w.buf)), left)]
		if got, err := io.ReadFull(r, b); err != nil {
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return fmt.Errorf("vfat: %q: data ends after %d of %d bytes", n.pathString(), n.size-left+int64(got), n.size)
			}
			return fmt.Errorf("vfat: %q: reading data: %w", n.pathString(), err)
		}
		if err := w.writeSparse(b, off); err != nil {
			return fmt.Errorf("vfat: %q: %w", n.pathString(), err)
		}
		off += int64(len(b))
		left -= int64(len(b))
	}
	return nil
}

// writeSparse writes b at off, skipping 4 KiB blocks of zeros.
func (w *Writer) writeSparse(b []byte, off int64) error {
	for i := 0; i < len(b); {
		j := i
		for j < len(b) && !bytes.Equal(b[j:min(j+zeroBlock, len(b))], zeros[:min(zeroBlock, len(b)-j)]) {
			j += zeroBlock
		}
		j = min(j, len(b))
		if j > i {
			if _, err := w.dst.WriteAt(b[i:j], off+int64(i)); err != nil {
				return fmt.Errorf("writing at %d: %w", off+int64(i), err)
			}
		}
		for j < len(b) && bytes.Equal(b[j:min(j+zeroBlock, len(b))], zeros[:min(zeroBlock, len(b)-j)]) {
			j += zeroBlock
		}
		i = j
	}
	return nil
}

// dirs returns every directory, root first, parents before children,
// siblings in name order.
func (w *Writer) dirs() []*node {
	var out []*node
	var walk func(d *node)
	walk = func(d *node) {
		out = append(out, d)
		for _, c := range d.children {
			if c.dir {
				walk(c)
			}
		}
	}
	walk(w.root)
	return out
}

// entryCount returns the 32-byte entries directory d needs.
func (w *Writer) entryCount(d *node) int {
	k := 0
	if d == w.root {
		if w.opts.Label != "" {
			k++
		}
	} else {
		k += 2 // "." and ".."
	}
	for _, c := range d.children {
		k++
		if c.lfn {
			k += lfnSlots(len(lfnUnits(c.name)))
		}
	}
	return k
}

// assignShortNames sorts d's children and gives each its short name: valid
// 8.3 names first, then generated BASE~N names in name order.
func assignShortNames(d *node) error {
	sort.Slice(d.children, func(i, j int) bool { return d.children[i].name < d.children[j].name })
	t := newTails()
	var rest []*node
	for _, c := range d.children {
		s, ntres, lfn, ok := plainShort(c.name)
		if !ok {
			rest = append(rest, c)
			continue
		}
		c.short, c.ntres, c.lfn = s, ntres, lfn
		t.taken[s] = true
	}
	for _, c := range rest {
		s, err := t.generate(c.name)
		if err != nil {
			return fmt.Errorf("vfat: %q: %w", c.pathString(), err)
		}
		c.short, c.lfn = s, true
	}
	return nil
}

// Close lays out and writes the directories, both FATs, the boot sector and
// (FAT32) the FSInfo sector and backup boot sector. It reports content that
// does not fit with the size it needs and the size available.
func (w *Writer) Close() error {
	if err := w.usable(); err != nil {
		return err
	}
	w.closed = true
	dirs := w.dirs()
	cb := w.g.ClusterBytes()
	var dirClust uint64
	counts := make([]int, len(dirs))
	for i, d := range dirs {
		if err := assignShortNames(d); err != nil {
			return err
		}
		counts[i] = w.entryCount(d)
		if counts[i] > 65536 {
			return fmt.Errorf("vfat: directory %q needs %d entries, FAT allows 65536", "/"+d.pathString(), counts[i])
		}
		if d == w.root && w.g.Type != FAT32 {
			if counts[i] > int(w.g.RootEntries) {
				return fmt.Errorf("vfat: the root directory needs %d entries but the FAT%d root holds %d (long names take one entry per 13 characters)",
					counts[i], w.g.Type, w.g.RootEntries)
			}
			continue
		}
		dirClust += uint64(max((int64(counts[i])*direntSize+cb-1)/cb, 1))
	}
	if need := w.fileClust + dirClust; w.full || need > uint64(w.g.Clusters) {
		return fmt.Errorf("vfat: %w: it needs %d bytes (%d clusters of %d bytes: %d for file data, %d for directories) "+
			"but the %d-byte FAT%d image has room for %d bytes (%d clusters)",
			ErrNoSpace, need*uint64(cb), need, cb, w.fileClust, dirClust, w.opts.Size, w.g.Type, w.g.DataBytes(), w.g.Clusters)
	}
	// Directory clusters follow the file data.
	for i, d := range dirs {
		if d == w.root && w.g.Type != FAT32 {
			continue
		}
		n := uint32(max((int64(counts[i])*direntSize+cb-1)/cb, 1))
		d.data = extent{start: w.next, n: n}
		w.next += n
	}
	for i, d := range dirs {
		if err := w.writeDir(d, counts[i]); err != nil {
			return err
		}
	}
	if err := w.writeFATs(); err != nil {
		return err
	}
	return w.writeBoot()
}

// writeDir encodes and writes the entries of directory d.
func (w *Writer) writeDir(d *node, count int) error {
	var size int64
	var off int64
	if d == w.root && w.g.Type != FAT32 {
		size, off = int64(count)*direntSize, int64(w.g.RootStart())*sectorSize
	} else {
		size, off = int64(d.data.n)*w.g.ClusterBytes(), w.g.ClusterOffset(d.data.start)
	}
	if int64(len(w.dirBuf)) < size {
		w.dirBuf = make([]byte, size)
	}
	b := w.dirBuf[:size]
	clear(b)
	p := 0
	put := func(e dirent) {
		e.marshal(b[p:p+direntSize], w.ts)
		p += direntSize
	}
	if d == w.root {
		if w.opts.Label != "" {
			put(dirent{name: w.label, attr: attrVolumeID})
		}
	} else {
		put(dirent{name: packShort(".", ""), attr: attrDir, cluster: d.data.start})
		up := uint32(0) // ".." of a top-level directory names the root as cluster 0
		if d.parent != w.root {
			up = d.parent.data.start
		}
		put(dirent{name: packShort("..", ""), attr: attrDir, cluster: up})
	}
	for _, c := range d.children {
		if c.lfn {
			u := lfnUnits(c.name)
			k := lfnSlots(len(u)) * direntSize
			marshalLFN(b[p:p+k], u, checksum(c.short))
			p += k
		}
		e := dirent{name: c.short, ntres: c.ntres, cluster: c.data.start}
		if c.dir {
			e.attr = attrDir
		} else {
			e.attr = attrArchive
			e.size = uint32(c.size)
			if c.readOnly {
				e.attr |= attrReadOnly
			}
		}
		put(e)
	}
	if _, err := w.dst.WriteAt(b, off); err != nil {
		return fmt.Errorf("vfat: writing directory %q: %w", "/"+d.pathString(), err)
	}
	return nil
}

// extents returns every allocated run in cluster order.
func (w *Writer) extents() []extent {
	var out []extent
	var walk func(d *node)
	walk = func(d *node) {
		for _, c := range d.children {
			if c.data.n > 0 {
				out = append(out, c.data)
			}
			if c.dir {
				walk(c)
			}
		}
	}
	if w.root.data.n > 0 {
		out = append(out, w.root.data)
	}
	walk(w.root)
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	return out
}

// writeFATs writes both FAT copies, skipping all-zero chunks.
func (w *Writer) writeFATs() error {
	enc := &fatEncoder{g: w.g, extents: w.extents()}
	fatBytes := int64(w.g.FATSectors) * sectorSize
	chunk := int64(48 << 10) // a multiple of 3 and 4 bytes: whole entries of any type
	if w.g.Type == FAT12 {
		chunk = fatBytes
	}
	b := make([]byte, chunk)
	for off := int64(0); off < fatBytes; off += chunk {
		c := b[:min(chunk, fatBytes-off)]
		enc.fill(c, off)
		for i := 0; i < numFATs; i++ {
			if err := w.writeSparse(c, int64(w.g.FATStart(i))*sectorSize+off); err != nil {
				return fmt.Errorf("vfat: writing FAT %d: %w", i+1, err)
			}
		}
	}
	return nil
}

// writeBoot writes the boot sector, and on FAT32 the FSInfo sector and the
// backup copies of both.
func (w *Writer) writeBoot() error {
	bs := bootSector(w.g, w.opts.Serial, w.label, w.root.data.start)
	sectors := map[int64][]byte{0: bs}
	if w.g.Type == FAT32 {
		// The next-free hint holds the last allocated cluster, as mkfs.fat
		// writes it and Linux reads it (the search starts after it); the
		// root directory is always allocated, so it is at least 2.
		fi := fsinfo(w.g.Clusters+2-w.next, w.next-1)
		sectors[fsinfoSector] = fi
		sectors[backupSector] = bs
		sectors[backupSector+fsinfoSector] = fi
	}
	for _, s := range []int64{0, fsinfoSector, backupSector, backupSector + fsinfoSector} {
		if b, ok := sectors[s]; ok {
			if _, err := w.dst.WriteAt(b, s*sectorSize); err != nil {
				return fmt.Errorf("vfat: writing boot sector %d: %w", s, err)
			}
		}
	}
	return nil
}
