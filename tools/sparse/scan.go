// Package sparse finds the data in mostly-empty files (disk images) and
// writes them as PAX 1.0 GNU sparse tar entries, which GNU tar extracts with
// the holes restored.
//
// Holes are found by reading the file and looking for all-zero blocks of
// BlockSize bytes: what the host filesystem reports as allocated must not
// change the archive. SEEK_DATA/SEEK_HOLE only let Scan skip what the
// filesystem knows to be holes, which read as zeros and so give the same
// segments (a 93 GiB LVM volume with 1.5 GiB of data scans in seconds).
package sparse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// BlockSize is the granularity of hole detection: a hole is a run of whole,
// aligned, all-zero blocks of this size (the last block of a file may be
// shorter).
const BlockSize = 4096

// scanChunk is how much is read per ReadAt call while scanning.
const scanChunk = 1 << 20

// Segment is a run of data in a file: Length bytes starting at Offset.
type Segment struct {
	Offset, Length int64
}

var zeroBlock [BlockSize]byte

// Scan reads size bytes of r and returns the data segments, in increasing
// offset order, merged so that no two segments touch. Everything outside
// the segments is zero. A file that is all zero gives no segments.
func Scan(r io.ReaderAt, size int64) ([]Segment, error) {
	if size < 0 {
		return nil, fmt.Errorf("sparse: negative size %d", size)
	}
	var segs []Segment
	buf := make([]byte, scanChunk)
	f, _ := r.(*os.File)
	dataEnd := int64(-1) // with f: end of the region known to hold data
	for off := int64(0); off < size; {
		if f != nil && off >= dataEnd {
			start, end, ok := NextData(f, off, size)
			if !ok {
				break // only holes (zeros) from off to size
			}
			off, dataEnd = start, end
			continue
		}
		n := int(min(int64(len(buf)), size-off))
		if f != nil {
			n = int(min(int64(n), dataEnd-off))
		}
		if got, err := r.ReadAt(buf[:n], off); err != nil && !(err == io.EOF && got == n) {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("sparse: scan at offset %d: %w", off, err)
		}
		for i := 0; i < n; i += BlockSize {
			blk := buf[i:min(i+BlockSize, n)]
			if bytes.Equal(blk, zeroBlock[:len(blk)]) {
				continue
			}
			start := off + int64(i)
			if k := len(segs) - 1; k >= 0 && segs[k].Offset+segs[k].Length == start {
				segs[k].Length += int64(len(blk))
			} else {
				segs = append(segs, Segment{start, int64(len(blk))})
			}
		}
		off += int64(n)
	}
	return segs, nil
}

// NextData returns the next region at or after off, before size, that the
// filesystem may hold data in (SEEK_DATA, SEEK_HOLE), widened to whole
// blocks: [start, end) with start a multiple of BlockSize. Everything in
// [off, start) reads as zeros. ok is false when only holes remain before
// size. A file system without SEEK_DATA support yields the whole rest of
// the file. Scan uses it; so does package verity, to hash holes without
// reading them.
func NextData(f *os.File, off, size int64) (start, end int64, ok bool) {
	fd := int(f.Fd())
	data, err := syscall.Seek(fd, off, 3) // SEEK_DATA
	if errors.Is(err, syscall.ENXIO) {
		return 0, 0, false
	}
	if err != nil {
		return off, size, true
	}
	hole, err := syscall.Seek(fd, data, 4) // SEEK_HOLE
	if err != nil {
		hole = size
	}
	start = max(off, data-data%BlockSize)
	end = min(size, (hole+BlockSize-1)/BlockSize*BlockSize)
	if start >= size {
		return 0, 0, false
	}
	return start, max(end, start+1), true
}

// DataSize returns the total length of segs.
func DataSize(segs []Segment) int64 {
	var n int64
	for _, s := range segs {
		n += s.Length
	}
	return n
}
