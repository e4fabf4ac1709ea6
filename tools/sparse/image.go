package sparse

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/icos-build/icos/tools/zst"
)

// CopyBufferSize is the size of the reads and largest writes of CopySparse.
const CopyBufferSize = 1 << 20

// ErrTooLarge is wrapped by CopySparse when the input does not fit.
var ErrTooLarge = errors.New("image larger than its destination")

// Image is an opened image file (a partition or disk image): raw;
// zstd-compressed when the file name ends in ".zst" (decompressed while
// streaming); or, when it ends in ".img.tar.zst", a zstd-compressed tar
// holding just that image (as our sparse archives do), whose holes cost
// nothing to decompress. Compressed input is checked to its end (see
// zst.Reader): reading a truncated or corrupt file fails, never ends early.
type Image struct {
	io.Reader
	Path string // file name
	Size int64  // uncompressed size, or -1 when only known after reading

	f   *os.File
	dec *zst.Reader
}

// OpenImage opens the image at path.
func OpenImage(path string) (*Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sparse: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("sparse: %w", err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("sparse: %s: not a regular file", path)
	}
	img := &Image{Reader: f, Path: path, Size: st.Size(), f: f}
	if strings.HasSuffix(path, ".zst") {
		dec, err := zst.NewReader(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("sparse: %s: %w", path, err)
		}
		img.Reader, img.dec, img.Size = dec, dec, -1
		if strings.HasSuffix(path, ".img.tar.zst") {
			tr := tar.NewReader(dec)
			hdr, err := tr.Next()
			if err == nil && hdr.Typeflag != tar.TypeReg {
				err = fmt.Errorf("entry %q is not a regular file", hdr.Name)
			}
			if err != nil {
				img.Close()
				return nil, fmt.Errorf("sparse: %s: %w", path, err)
			}
			img.Reader, img.Size = &oneEntry{tr: tr, rest: dec, path: path}, hdr.Size
		}
	}
	return img, nil
}

// ImageName is the name of the image in the file at path: its base name
// without ".zst" or ".tar.zst" for an ".img.tar.zst" archive.
func ImageName(path string) string {
	base := path[strings.LastIndexByte(path, '/')+1:]
	if strings.HasSuffix(base, ".img.tar.zst") {
		return strings.TrimSuffix(base, ".tar.zst")
	}
	return strings.TrimSuffix(base, ".zst")
}

// oneEntry reads the single entry of an image archive; a second entry is
// an error. At the end of the entry it reads the rest of the compressed
// stream (what follows the tar's end, usually zero padding), so that the
// whole stream is checked.
type oneEntry struct {
	tr   *tar.Reader
	rest io.Reader // the decompressed tar stream
	path string
}

func (o *oneEntry) Read(p []byte) (int, error) {
	n, err := o.tr.Read(p)
	if err == io.EOF {
		_, nerr := o.tr.Next()
		switch nerr {
		case io.EOF:
			_, nerr = io.Copy(io.Discard, o.rest)
		case nil:
			nerr = errors.New("more than one entry")
		}
		if nerr != nil {
			return n, fmt.Errorf("sparse: %s: %w", o.path, nerr)
		}
	}
	return n, err
}

// Close releases the image.
func (img *Image) Close() error {
	if img.dec != nil {
		img.dec.Close()
	}
	return img.f.Close()
}

// CopyImage copies the image file at path (opened with OpenImage: raw,
// .zst or .img.tar.zst) into w at offset off with CopySparse, keeping holes
// where the image has all-zero blocks. The image may hold at most limit
// bytes; a larger one gives an error wrapping ErrTooLarge, found before
// copying when its size is known up front. It is how package gpt fills a
// partition and package lvm a logical volume.
func CopyImage(w io.WriterAt, off, limit int64, path string) error {
	img, err := OpenImage(path)
	if err != nil {
		return err
	}
	defer img.Close()
	if img.Size > limit {
		return fmt.Errorf("sparse: %s: %w: image is %d bytes, destination %d bytes", path, ErrTooLarge, img.Size, limit)
	}
	if _, err := copySparse(w, off, limit, img); err != nil {
		return fmt.Errorf("sparse: copying %s: %w", path, err)
	}
	return nil
}

// CopySparse copies r to w at offset off, allowing at most limit bytes. It
// reads CopyBufferSize bytes at a time and writes each run of non-zero
// BlockSize blocks with one WriteAt, skipping all-zero blocks, so the
// destination (a fresh file, which reads as zeros) keeps holes where the
// image has zeros. It returns the number of bytes read. Only io.EOF ends
// the input: any other error of r, io.ErrUnexpectedEOF included, is
// returned, wrapped after the "sparse: " prefix. If r holds more than limit
// bytes, it reads r to the end to learn its size and returns an error
// wrapping ErrTooLarge naming both sizes.
func CopySparse(w io.WriterAt, off, limit int64, r io.Reader) (int64, error) {
	n, err := copySparse(w, off, limit, r)
	if err != nil {
		return n, fmt.Errorf("sparse: %w", err)
	}
	return n, nil
}

// copySparse is CopySparse without the package prefix on its errors.
func copySparse(w io.WriterAt, off, limit int64, r io.Reader) (int64, error) {
	buf := make([]byte, CopyBufferSize)
	zero := make([]byte, BlockSize)
	var total int64
	for {
		n, rerr := fill(r, buf)
		if n > 0 {
			if total+int64(n) > limit {
				rest, err := io.Copy(io.Discard, r)
				if err != nil {
					return total, fmt.Errorf("reading past %d bytes: %w", limit, err)
				}
				return total, fmt.Errorf("%w: image is %d bytes, destination %d bytes", ErrTooLarge, total+int64(n)+rest, limit)
			}
			if err := writeNonZero(w, off+total, buf[:n], zero); err != nil {
				return total, err
			}
			total += int64(n)
		}
		if rerr == io.EOF {
			return total, nil
		}
		if rerr != nil {
			return total, rerr
		}
	}
}

// fill reads from r until buf is full or r fails. Unlike io.ReadFull it
// returns r's errors unchanged: io.EOF for the end of the input, and an
// io.ErrUnexpectedEOF of r's own (a truncated stream) as the error it is.
func fill(r io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		k, err := r.Read(buf[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// writeNonZero writes the runs of non-zero blocks of b at off.
func writeNonZero(w io.WriterAt, off int64, b, zero []byte) error {
	runStart := -1
	flush := func(end int) error {
		if runStart < 0 {
			return nil
		}
		_, err := w.WriteAt(b[runStart:end], off+int64(runStart))
		runStart = -1
		return err
	}
	for i := 0; i < len(b); i += BlockSize {
		end := min(i+BlockSize, len(b))
		if bytes.Equal(b[i:end], zero[:end-i]) {
			if err := flush(i); err != nil {
				return err
			}
		} else if runStart < 0 {
			runStart = i
		}
	}
	return flush(len(b))
}
