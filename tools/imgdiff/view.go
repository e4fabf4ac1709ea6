package imgdiff

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
)

// chunkSize is how much of each side is read and compared at a time.
const chunkSize = 1 << 20

// seekData is Linux's SEEK_DATA whence value (not exported by syscall).
const seekData = 3

// view is a window [off, off+size) of a file.
type view struct {
	f         *os.File
	off, size int64
}

func fileView(f *os.File) (*view, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return &view{f: f, size: st.Size()}, nil
}

// sub returns the window [off, off+size) of v, clipped to v.
func (v *view) sub(off, size int64) *view {
	off = min(max(off, 0), v.size)
	size = min(max(size, 0), v.size-off)
	return &view{f: v.f, off: v.off + off, size: size}
}

// ReadAt reads from the window; reads past its end return io.EOF.
func (v *view) ReadAt(p []byte, off int64) (int, error) {
	if off >= v.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > v.size-off {
		n = int(v.size - off)
	}
	m, err := v.f.ReadAt(p[:n], v.off+off)
	if err == nil && m < len(p) {
		err = io.EOF
	}
	return m, err
}

// nextData returns the first offset >= off that may hold data, per
// SEEK_DATA; v.size when only a hole follows. It returns off when the
// filesystem cannot tell.
func (v *view) nextData(off int64) int64 {
	if off >= v.size {
		return v.size
	}
	pos, err := syscall.Seek(int(v.f.Fd()), v.off+off, seekData)
	if errors.Is(err, syscall.ENXIO) {
		return v.size
	}
	if err != nil || pos < v.off+off {
		return off
	}
	return min(pos-v.off, v.size)
}

func readFull(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// diffRanges compares a (sizeA bytes) and b (sizeB bytes) and returns the
// differing ranges in units of unit bytes (offsets are bytes, aligned to
// unit). Bytes present on one side only differ.
func diffRanges(a, b io.ReaderAt, sizeA, sizeB, unit int64) ([]Range, error) {
	var out []Range
	m := min(sizeA, sizeB)
	ha, _ := a.(interface{ nextData(int64) int64 })
	hb, _ := b.(interface{ nextData(int64) int64 })
	ba := make([]byte, chunkSize)
	bb := make([]byte, chunkSize)
	for off := int64(0); off < m; {
		if ha != nil && hb != nil {
			if s := min(ha.nextData(off), hb.nextData(off), m) / unit * unit; s > off {
				off = s
				continue
			}
		}
		k := min(int64(chunkSize), m-off)
		if err := readFull(a, ba[:k], off); err != nil {
			return nil, err
		}
		if err := readFull(b, bb[:k], off); err != nil {
			return nil, err
		}
		if !bytes.Equal(ba[:k], bb[:k]) {
			for u := int64(0); u < k; u += unit {
				e := min(u+unit, k)
				if !bytes.Equal(ba[u:e], bb[u:e]) {
					out = addRange(out, off+u, off+e)
				}
			}
		}
		off += k
	}
	if sizeA != sizeB {
		out = addRange(out, m, max(sizeA, sizeB))
	}
	return out, nil
}

// readerFunc adapts a function to io.ReaderAt.
type readerFunc func(p []byte, off int64) (int, error)

// ReadAt calls f.
func (f readerFunc) ReadAt(p []byte, off int64) (int, error) { return f(p, off) }
