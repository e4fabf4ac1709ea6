package vm

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/sparse"
	"github.com/icos-build/icos/tools/zst"
)

// CopyDisk writes the raw disk of src to dst, keeping holes: src is a
// zstd-compressed tar (disk-img.tar.zst), a plain tar, each holding just
// disk.img, or a raw image. The format is told by content: the zstd magic,
// a tar header, or anything else for raw. dst appears only when complete
// (package outfile: written beside it, synced and renamed).
func CopyDisk(dst, src string) error {
	out, err := outfile.Create(dst, 0o644)
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := copyDisk(out, src); err != nil {
		return err
	}
	return out.Commit()
}

// copyDiskScratch is CopyDisk for a destination in a scratch directory,
// which is removed as a whole on failure: the file is written in place and
// not synced (a 50 GiB GuestOS disk holds about 750 MiB of data, which
// syncing takes seconds to write).
func copyDiskScratch(dst, src string) error {
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	if err := copyDisk(f, src); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return nil
}

// disk is where a disk is copied to: a new, empty file.
type disk interface {
	io.WriterAt
	Truncate(size int64) error
}

// copyDisk copies the disk of src (see CopyDisk) to out.
func copyDisk(out disk, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("vm: %s: not a regular file", src)
	}
	var head [512]byte
	n, err := io.ReadFull(in, head[:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return fmt.Errorf("vm: %s: %w", src, err)
	}
	switch {
	case n >= 4 && bytes.Equal(head[:4], []byte{0x28, 0xB5, 0x2F, 0xFD}):
		err = copyArchive(out, in, true)
	case n == 512 && isTarHeader(head[:]):
		err = copyArchive(out, in, false)
	default:
		err = copyRaw(out, in, st.Size())
	}
	if err != nil {
		return fmt.Errorf("vm: %s: %w", src, err)
	}
	return nil
}

// isTarHeader reports whether b (512 bytes) is a ustar or GNU tar header.
func isTarHeader(b []byte) bool {
	return bytes.Equal(b[257:262], []byte("ustar"))
}

// copyArchive copies the single entry disk.img of the tar in f (read from
// its start; zstd-compressed if compressed) to out.
func copyArchive(out disk, f *os.File, compressed bool) error {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	var r io.Reader = bufio.NewReaderSize(f, 1<<20)
	if compressed {
		d, err := zst.NewReader(r)
		if err != nil {
			return err
		}
		defer d.Close()
		r = d
	}
	tr := tar.NewReader(r)
	hdr, err := tr.Next()
	if err == io.EOF {
		return fmt.Errorf("empty archive, want one entry %s", DiskName)
	}
	if err != nil {
		return err
	}
	if hdr.Name != DiskName || (hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeGNUSparse) {
		return fmt.Errorf("archive entry %q: want a regular file %s", hdr.Name, DiskName)
	}
	if _, err := sparse.CopySparse(out, 0, hdr.Size, tr); err != nil {
		return err
	}
	switch next, err := tr.Next(); {
	case err == nil:
		return fmt.Errorf("archive entry %q after %s: want %s alone", next.Name, DiskName, DiskName)
	case err != io.EOF:
		return err
	}
	// Read to the end, so that a truncated or corrupt stream is an error.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return out.Truncate(hdr.Size)
}

// copyRaw copies the size bytes of the raw image f to out, reading only
// the regions the file system may hold data in and writing only non-zero
// blocks.
func copyRaw(out disk, f *os.File, size int64) error {
	for off := int64(0); off < size; {
		start, end, ok := sparse.NextData(f, off, size)
		if !ok {
			break
		}
		if _, err := sparse.CopySparse(out, start, end-start, io.NewSectionReader(f, start, end-start)); err != nil {
			return err
		}
		off = end
	}
	return out.Truncate(size)
}

// copyFile copies the small file src to a new file dst.
func copyFile(dst, src string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	return nil
}
