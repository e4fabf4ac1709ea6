// Package rootfs flattens the layers of an OCI image into one normalized
// root filesystem tar and applies a declarative spec (files, directories,
// symlinks, removals, users and groups, systemd units, host files) on top:
// the replacement of `podman build` + `podman export` for IC-OS images.
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
	mtime    int64
	linkname string // symlink target
	devmajor int64
	devminor int64
	xattrs   map[string]string // PAX records "SCHILY.xattr.*"
	off      int64             // data offset in the spool (regular files)
	size     int64
}

// node is one name in the tree.
type node struct {
	ino      *inode
	layer    int              // index of the layer (or spec step) that created it
	children map[string]*node // directories only
}

// Tree is a root filesystem being assembled. Create it with New, fill it
// with ApplyLayer and the spec methods, write it with Write and release it
// with Close.
type Tree struct {
	root  *node
	spool *os.File
	end   int64  // bytes used in the spool
	layer int    // current layer index, for whiteout scoping
	buf   []byte // copy buffer shared by spooling and writing
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
func (t *Tree) open(ino *inode) io.Reader { return io.NewSectionReader(t.spool, ino.off, ino.size) }

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
	if old := dir.children[base]; old != nil && old.ino.typ == tar.TypeDir && ino.typ == tar.TypeDir {
		old.ino = ino
		old.layer = t.layer
		return nil
	}
	n := &node{ino: ino, layer: t.layer}
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

// ApplyLayer applies one uncompressed layer tar on top of the tree. Layers
// must be applied bottom (oldest) first. Entry names must be relative and
// stay inside the root; the error names the offending entry.
func (t *Tree) ApplyLayer(r io.Reader) error {
	t.layer++
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("rootfs: layer %d: %w", t.layer, err)
		}
		if err := t.applyEntry(h, tr); err != nil {
			return fmt.Errorf("rootfs: layer %d: entry %s: %w", t.layer, tarpath.Quote(h.Name), err)
		}
	}
}

func (t *Tree) applyEntry(h *tar.Header, r io.Reader) error {
	p, err := tarpath.Clean(h.Name)
	if err != nil {
		return err
	}
	base := path.Base(p)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return t.whiteout(p, base)
	}
	if p == "" {
		return nil // the root directory's own metadata is not kept
	}
	ino, err := inodeFromHeader(h)
	if err != nil {
		return err
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		if ino.off, ino.size, err = t.spoolData(r); err != nil {
			return fmt.Errorf("reading data: %w", err)
		}
	case tar.TypeLink:
		target, err := tarpath.CleanHardlink(p, h.Linkname)
		if err != nil {
			return err
		}
		tn := t.lookup(target)
		if tn == nil {
			return fmt.Errorf("hard link target %q does not exist", target)
		}
		if tn.ino.typ == tar.TypeDir {
			return fmt.Errorf("hard link target %q is a directory", target)
		}
		if target == p {
			return nil
		}
		ino = tn.ino
	case tar.TypeSymlink:
		if err := tarpath.CheckSymlink(p, h.Linkname); err != nil {
			return err
		}
	}
	return t.put(p, ino)
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

// inodeFromHeader takes the metadata we keep from a tar header: type,
// permission bits, numeric owner, whole-second mtime, symlink target,
// device numbers and extended attributes. User and group names, atime and
// ctime are dropped.
func inodeFromHeader(h *tar.Header) (*inode, error) {
	ino := &inode{
		typ:   h.Typeflag,
		mode:  h.Mode & 0o7777,
		uid:   h.Uid,
		gid:   h.Gid,
		mtime: h.ModTime.Unix(),
	}
	if h.Uid < 0 || h.Gid < 0 {
		return nil, fmt.Errorf("negative owner %d:%d", h.Uid, h.Gid)
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA:
		ino.typ = tar.TypeReg
	case tar.TypeDir, tar.TypeFifo, tar.TypeLink:
	case tar.TypeSymlink:
		ino.linkname = h.Linkname
	case tar.TypeChar, tar.TypeBlock:
		ino.devmajor, ino.devminor = h.Devmajor, h.Devminor
	default:
		return nil, fmt.Errorf("unsupported entry type %q", h.Typeflag)
	}
	for k, v := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			if ino.xattrs == nil {
				ino.xattrs = map[string]string{}
			}
			ino.xattrs[k] = v
		}
	}
	return ino, nil
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
