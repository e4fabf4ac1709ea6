package vfat

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"

	"github.com/icos-build/icos/tools/tarpath"
)

// AddTar adds every entry of the tar stream r to w, streaming file data.
// Names are validated with tarpath. Directories and regular files are
// added; hard links become copies of their target (FAT has no links); a
// file whose mode has no owner write bit gets the read-only attribute.
// Symlinks, device nodes, FIFOs and other types cannot be stored in FAT and
// are errors naming the entry. Owners, modes and times of the tar are
// otherwise ignored: every timestamp comes from Options.ModTime.
func AddTar(w *Writer, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("vfat: reading tar: %w", err)
		}
		name, err := tarpath.Clean(h.Name)
		if err != nil {
			return fmt.Errorf("vfat: tar entry: %w", err)
		}
		readOnly := h.Mode&0o200 == 0
		switch h.Typeflag {
		case tar.TypeDir:
			err = w.Mkdir(name)
		case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse:
			err = w.Create(name, h.Size, tr, readOnly)
		case tar.TypeLink:
			var target string
			if target, err = tarpath.CleanHardlink(h.Name, h.Linkname); err == nil {
				err = w.Link(name, target, readOnly)
			}
		case tar.TypeXGlobalHeader:
			continue
		case tar.TypeSymlink:
			err = fmt.Errorf("vfat: tar entry %q: symlinks (to %q) cannot be stored in FAT", h.Name, h.Linkname)
		case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
			err = fmt.Errorf("vfat: tar entry %q: device nodes and FIFOs cannot be stored in FAT", h.Name)
		default:
			err = fmt.Errorf("vfat: tar entry %q: unsupported type %q", h.Name, h.Typeflag)
		}
		if err != nil {
			return err
		}
	}
}
