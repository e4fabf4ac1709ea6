// Package rootfs flattens the layers of an OCI image into one normalized
// root filesystem tar and applies a declarative spec (files, directories,
// symlinks, removals, users and groups, systemd units, host files) on top:
// the replacement of `podman build` + `podman export` for IC-OS images.
// Its tree and writer are the one tar normal form of the tools: Normalize
// (`icos tar normalize`) reads a single archive into the same tree and
// writes it the same way.
//
// Layers are applied bottom-up into an in-memory tree that holds only
// metadata; file contents are spooled to one unlinked temporary file, so
// memory does not grow with the size of the image. Whiteouts (".wh.NAME")
// and opaque directories (".wh..wh..opq") hide entries of lower layers
// only, as the OCI image spec requires. The output lists parents before
// their children in tarpath.Less order, keeps symlink targets verbatim and
// writes every group of hard links as one regular file followed by links
// to it, so a hard link whose target a later layer replaced or deleted
// becomes a full copy of the data it pointed to.
package rootfs

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/icos-build/icos/tools/tarpath"
)

// Whiteout markers of the OCI image layer format.
const (
	whiteoutPrefix = ".wh."
	opaqueMarker   = ".wh..wh..opq"
)

// inode is what hard links share: type, metadata and data.
type inode struct {
	typ      byte // tar.TypeReg, TypeDir, TypeSymlink, TypeChar, TypeBlock, TypeFifo
	mode     int64
	uid, gid int
	modTime  int64
	linkname string // symlink target
	devmajor int64
	devminor int64
	xattrs   map[string]string // PAX records "SCHILY.xattr.*"
	src      io.ReaderAt       // where the data is (regular files); nil: the spool
	off      int64             // data offset in src
	size     int64
}

// node is one name in the tree. It holds its own component only (as its
// key in the parent), so memory stays linear in the size of the input
// however deep the names are.
type node struct {
	ino      *inode
	layer    int              // index of the layer (or spec step) that created it
	named    bool             // an entry or the spec gave it (not a missing parent)
	children map[string]*node // directories only
}

// Tree is a root filesystem being assembled. Create it with New, fill it
// with ApplyLayer and the spec methods, write it with Write and release it
// with Close.
type Tree struct {
	root   *node // named only when an archive read by Normalize has "./"
	spool  *os.File
	end    int64  // bytes used in the spool
	layer  int    // current layer index, for whiteout scoping
	buf    []byte // copy buffer shared by spooling and writing
	strict bool   // a name given twice is an error (Normalize)
	// direct is the archive Normalize reads when it is a regular file:
	// file data is read back from it (at directBase + the stream offset,
	// before directEnd) instead of being spooled.
	direct     *os.File
	directBase int64
	directEnd  int64
}

// New returns an empty tree (just the root directory) whose file contents
// are spooled to an unlinked temporary file in tmpDir ("" for the system
// default).
func New(tmpDir string) (*Tree, error) {
	f, err := os.CreateTemp(tmpDir, "icos-rootfs-spool-*")
	if err != nil {
		return nil, fmt.Errorf("rootfs: spool: %w", err)
	}
	// Unlink at once: the data lives as long as the descriptor and nothing
	// is left behind whatever happens to the process.
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, fmt.Errorf("rootfs: spool: %w", err)
	}
	root := &node{ino: &inode{typ: tar.TypeDir, mode: 0o755}, children: map[string]*node{}}
	return &Tree{root: root, spool: f}, nil
}

// Close releases the spool file.
func (t *Tree) Close() error { return t.spool.Close() }

// spoolData appends r to the spool and returns its offset and length.
func (t *Tree) spoolData(r io.Reader) (int64, int64, error) {
	off := t.end
	if _, err := t.spool.Seek(off, io.SeekStart); err != nil {
		return 0, 0, err
	}
	if t.buf == nil {
		t.buf = make([]byte, 1<<20)
	}
	n, err := io.CopyBuffer(struct{ io.Writer }{t.spool}, struct{ io.Reader }{r}, t.buf)
	t.end += n
	return off, n, err
}

// open returns the data of a regular file inode.
func (t *Tree) open(ino *inode) io.Reader {
	src := ino.src
	if src == nil {
		src = t.spool
	}
	return io.NewSectionReader(src, ino.off, ino.size)
}

// lookup returns the node with canonical name p, or nil. Symlinks are not
// followed.
func (t *Tree) lookup(p string) *node {
	n := t.root
	for _, c := range tarpath.Prefixes(p) {
		if n.children == nil {
			return nil
		}
		n = n.children[c]
		if n == nil {
			return nil
		}
	}
	return n
}

// parentDir returns the directory that holds canonical name p, creating
// missing ancestors as root-owned 0755 directories with mtime 0. A
// non-directory on the way is an error.
func (t *Tree) parentDir(p string) (*node, error) {
	n := t.root
	for walked, c := range tarpath.Prefixes(tarpath.Parent(p)) {
		next := n.children[c]
		if next == nil {
			next = &node{ino: &inode{typ: tar.TypeDir, mode: 0o755}, layer: t.layer, children: map[string]*node{}}
			n.children[c] = next
		} else if next.ino.typ != tar.TypeDir {
			return nil, fmt.Errorf("parent %q is not a directory", walked)
		}
		n = next
	}
	return n, nil
}

// put installs ino under canonical name p. A directory replacing a
// directory keeps the existing children; anything else replaces the old
// node and everything under it.
func (t *Tree) put(p string, ino *inode) error {
	if p == "" {
		return errors.New("cannot replace the root directory")
	}
	dir, err := t.parentDir(p)
	if err != nil {
		return err
	}
	base := path.Base(p)
	old := dir.children[base]
	if old != nil && old.named && t.strict {
		return fmt.Errorf("duplicate path %q", p)
	}
	if old != nil && old.ino.typ == tar.TypeDir && ino.typ == tar.TypeDir {
		old.ino = ino
		old.layer = t.layer
		old.named = true
		return nil
	}
	n := &node{ino: ino, layer: t.layer, named: true}
	if ino.typ == tar.TypeDir {
		n.children = map[string]*node{}
	}
	dir.children[base] = n
	return nil
}

// hideLower removes from the subtree of n everything a whiteout of the
// current layer hides: entries of lower layers. It reports whether n must
// stay because it or something below it comes from the current layer.
func (t *Tree) hideLower(n *node) bool {
	keep := n.layer == t.layer
	for name, c := range n.children {
		if t.hideLower(c) {
			keep = true
		} else {
			delete(n.children, name)
		}
	}
	return keep
}

// whiteout applies the whiteout entry p (base name base).
func (t *Tree) whiteout(p, base string) error {
	dirName := tarpath.Parent(p)
	if base == opaqueMarker {
		if d := t.lookup(dirName); d != nil && d.ino.typ == tar.TypeDir {
			for name, c := range d.children {
				if !t.hideLower(c) {
					delete(d.children, name)
				}
			}
		}
		return nil
	}
	victim := strings.TrimPrefix(base, whiteoutPrefix)
	switch {
	case strings.HasPrefix(victim, whiteoutPrefix):
		return fmt.Errorf("malformed whiteout: unknown marker %q", base)
	case victim == "" || victim == ".":
		return fmt.Errorf("malformed whiteout: no name to hide")
	case victim == ".." || strings.Contains(victim, "/"):
		return fmt.Errorf("whiteout escapes its directory: hides %q", victim)
	}
	d := t.lookup(dirName)
	if d == nil || d.ino.typ != tar.TypeDir {
		return nil // nothing to hide
	}
	if c := d.children[victim]; c != nil && !t.hideLower(c) {
		delete(d.children, victim)
	}
	return nil
}

// sortedChildren returns the names of a directory's children in byte order.
func sortedChildren(n *node) []string {
	names := make([]string, 0, len(n.children))
	for name := range n.children {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
