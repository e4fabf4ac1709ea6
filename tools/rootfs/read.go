package rootfs

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/icos-build/icos/tools/tarpath"
)

// xattrPrefix starts the PAX record keys holding extended attributes.
const xattrPrefix = "SCHILY.xattr."

// ioBuf is the buffer size of data copies and of Normalize's output;
// readBuf that of archive input (headers are read a block at a time).
const (
	ioBuf   = 1 << 20
	readBuf = 64 << 10
)

// ApplyLayer applies one uncompressed layer tar on top of the tree. Layers
// must be applied bottom (oldest) first. Entry names must be relative and
// stay inside the root; the error names the offending entry.
func (t *Tree) ApplyLayer(r io.Reader) error {
	if err := t.applyLayer(r); err != nil {
		return fmt.Errorf("rootfs: layer %d: %w", t.layer, err)
	}
	return nil
}

// applyLayer is ApplyLayer with errors that do not name the layer.
func (t *Tree) applyLayer(r io.Reader) error {
	t.layer++
	_, err := readArchive(r, func(h *tar.Header, data io.Reader, _ int64) error {
		return t.applyEntry(h, data, 0, true)
	})
	return err
}

// recorder remembers the last header-sized block read through it and the
// number of bytes read, so a header archive/tar rejects can still be
// named in the error.
type recorder struct {
	r    io.Reader
	last [512]byte
	n    int64
}

func (r *recorder) Read(p []byte) (int, error) {
	k, err := r.r.Read(p)
	b := p[:k]
	if len(b) >= len(r.last) {
		copy(r.last[:], b[len(b)-len(r.last):])
	} else {
		copy(r.last[:], r.last[len(b):])
		copy(r.last[len(r.last)-len(b):], b)
	}
	r.n += int64(k)
	return k, err
}

// rawName returns the name fields of the last block read if it looks like
// a ustar or GNU header.
func (r *recorder) rawName() (string, bool) {
	b := r.last[:]
	if r.n < 512 || string(b[257:262]) != "ustar" {
		return "", false
	}
	cstr := func(f []byte) string {
		if i := strings.IndexByte(string(f), 0); i >= 0 {
			return string(f[:i])
		}
		return string(f)
	}
	name := cstr(b[0:100])
	if string(b[257:263]) == "ustar\x00" {
		if p := cstr(b[345:500]); p != "" {
			name = p + "/" + name
		}
	}
	return name, true
}

// readArchive reads the tar stream src and calls add for each entry with
// a reader of its data and the stream offset where the data starts. It
// returns the number of bytes read. Errors name the entry: by its name, or
// for a header archive/tar rejects by its number and raw name, with the
// offset reached in the stream.
func readArchive(src io.Reader, add func(h *tar.Header, data io.Reader, dataOff int64) error) (int64, error) {
	rec := &recorder{r: bufio.NewReaderSize(src, readBuf)}
	tr := tar.NewReader(rec)
	prev := ""
	for i := 1; ; i++ {
		h, err := tr.Next()
		if err == io.EOF {
			return rec.n, nil
		}
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && h != nil) {
			where := fmt.Sprintf("entry %d", i)
			if prev != "" {
				where += fmt.Sprintf(" (after %s)", tarpath.Quote(prev))
			}
			if name, ok := rec.rawName(); ok && err != io.ErrUnexpectedEOF {
				where = fmt.Sprintf("entry %s (number %d)", tarpath.Quote(name), i)
			}
			if err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("truncated archive: %w", err)
			}
			return rec.n, fmt.Errorf("%s, input byte %d: %w", where, rec.n, err)
		}
		prev = h.Name
		if err := add(h, tr, rec.n); err != nil {
			return rec.n, fmt.Errorf("entry %s: %w", tarpath.Quote(h.Name), err)
		}
	}
}

// applyEntry checks one entry and installs it in the tree; its data is
// read from r, which starts at offset dataOff of the archive. In a layer,
// whiteouts hide entries of lower layers and a root entry is ignored;
// otherwise (Normalize) ".wh." names are ordinary names and the root
// entry is kept.
func (t *Tree) applyEntry(h *tar.Header, r io.Reader, dataOff int64, layer bool) error {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	p, err := tarpath.Clean(h.Name)
	if err != nil {
		return err
	}
	if base := path.Base(p); layer && strings.HasPrefix(base, whiteoutPrefix) {
		return t.whiteout(p, base)
	}
	ino, err := inodeFromHeader(h)
	if err != nil {
		return err
	}
	if p == "" {
		if ino.typ != tar.TypeDir {
			return fmt.Errorf("the root must be a directory, not type %q", h.Typeflag)
		}
		if !layer {
			if t.root.named && t.strict {
				return errors.New(`duplicate path ""`)
			}
			t.root.ino, t.root.named = ino, true
		}
		return nil // a layer's root directory metadata is not kept
	}
	switch ino.typ {
	case tar.TypeReg:
		if err := t.addData(ino, h, r, dataOff); err != nil {
			return err
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
			if t.strict {
				return fmt.Errorf("duplicate path %q", p)
			}
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

// addData records where the data of a regular file is: read back from the
// archive itself when Normalize reads a regular file (and the entry is not
// stored sparse), else copied from r to the spool.
func (t *Tree) addData(ino *inode, h *tar.Header, r io.Reader, dataOff int64) error {
	ino.size = h.Size
	if t.direct != nil && !isSparse(h) {
		ino.src, ino.off = t.direct, t.directBase+dataOff
		if avail := t.directEnd - ino.off; h.Size > avail {
			return fmt.Errorf("size %d but only %d bytes of data before the archive ends (truncated)", h.Size, max(avail, 0))
		}
		return nil
	}
	off, k, err := t.spoolData(r)
	ino.off = off
	if err == io.ErrUnexpectedEOF {
		return fmt.Errorf("size %d but only %d bytes of data before the archive ends (truncated): %w", h.Size, k, err)
	}
	if err != nil {
		return fmt.Errorf("reading data: %w", err)
	}
	if k != h.Size {
		return fmt.Errorf("size %d but %d bytes of data", h.Size, k)
	}
	return nil
}

// inodeFromHeader checks a header and takes the metadata of the normal
// form from it: type, permission bits (with setuid, setgid and sticky),
// numeric owner, whole-second mtime, symlink target, device numbers and
// extended attributes. User and group names, atime, ctime and every other
// PAX record are dropped. Sizes, owners and device numbers that are
// negative or present where the type has none are errors.
func inodeFromHeader(h *tar.Header) (*inode, error) {
	switch {
	case h.Size < 0:
		return nil, fmt.Errorf("negative size %d", h.Size)
	case h.Uid < 0 || h.Gid < 0:
		return nil, fmt.Errorf("negative owner %d:%d", h.Uid, h.Gid)
	case h.Devmajor < 0 || h.Devminor < 0:
		return nil, fmt.Errorf("negative device number %d,%d", h.Devmajor, h.Devminor)
	}
	ino := &inode{
		typ:     h.Typeflag,
		mode:    h.Mode & 0o7777,
		uid:     h.Uid,
		gid:     h.Gid,
		modTime: h.ModTime.Unix(),
	}
	switch h.Typeflag {
	case tar.TypeReg, tar.TypeRegA, tar.TypeCont, tar.TypeGNUSparse:
		ino.typ = tar.TypeReg
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return nil, fmt.Errorf("unsupported entry type %q", h.Typeflag)
	}
	switch {
	case ino.typ != tar.TypeReg && h.Size != 0:
		return nil, fmt.Errorf("size %d on an entry of type %q, which has no data", h.Size, h.Typeflag)
	case ino.typ != tar.TypeChar && ino.typ != tar.TypeBlock && (h.Devmajor != 0 || h.Devminor != 0):
		return nil, fmt.Errorf("device numbers %d,%d on an entry of type %q", h.Devmajor, h.Devminor, h.Typeflag)
	case ino.typ != tar.TypeLink && ino.typ != tar.TypeSymlink && h.Linkname != "":
		return nil, fmt.Errorf("link target %q on an entry of type %q", h.Linkname, h.Typeflag)
	}
	ino.devmajor, ino.devminor = h.Devmajor, h.Devminor
	if ino.typ == tar.TypeSymlink {
		ino.linkname = h.Linkname
	}
	for k, v := range h.PAXRecords {
		if x, ok := strings.CutPrefix(k, xattrPrefix); ok {
			if x == "" {
				return nil, errors.New("extended attribute with an empty name")
			}
			if ino.xattrs == nil {
				ino.xattrs = map[string]string{}
			}
			ino.xattrs[k] = v
		}
	}
	return ino, nil
}

// isSparse reports whether an entry was stored in one of the GNU sparse
// formats, whose data is not a plain copy of the contents.
func isSparse(h *tar.Header) bool {
	if h.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
