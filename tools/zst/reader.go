package zst

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/zstd"
)

// ErrTruncated is wrapped by the errors of a Reader whose input ends before
// the end of a frame (or holds no frame at all).
var ErrTruncated = errors.New("truncated zstd stream")

// ErrCorrupt is wrapped by the errors of a Reader whose input is not a
// well-formed sequence of zstd frames, for example because of trailing
// bytes after the last frame.
var ErrCorrupt = errors.New("corrupt zstd stream")

// Reader decompresses a zstd stream: one or more zstd frames and skippable
// frames, as the zstd command line accepts them. Unlike a bare decoder it
// checks the stream to its end: it follows the frame and block headers of
// the compressed bytes as the decoder reads them, so input that ends
// anywhere but after a complete frame is ErrTruncated (never a clean
// io.EOF), and bytes after the last frame that do not start another frame
// are ErrCorrupt. The decoder verifies the content checksum and the
// declared content size of each frame that has them.
//
// Errors read "zst: offset N: ...", N being the offset in the compressed
// input: where it ends (truncation), where the bad bytes start (a bad
// frame or block header), or, for errors the decoder reports while
// decoding (a checksum or content size mismatch, corrupt block data),
// where the block or checksum in question starts. Callers add the file
// name.
type Reader struct {
	s   *scanner
	dec *zstd.Decoder
	err error
}

// NewReader returns a Reader decompressing r.
func NewReader(r io.Reader) (*Reader, error) {
	s := &scanner{r: bufio.NewReaderSize(r, 64<<10), state: stMagic, need: 4}
	dec, err := zstd.NewReader(s, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("zst: %w", err)
	}
	return &Reader{s: s, dec: dec}, nil
}

// Read reads decompressed bytes. It returns io.EOF only once the whole
// input has been read and checked.
func (r *Reader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.dec.Read(p)
	switch {
	case err == nil:
		return n, nil
	case r.s.err != nil:
		// The scanner's error is the precise one; the decoder may
		// have passed it on or replaced it.
		r.err = r.s.err
	case err == io.EOF && !r.s.complete():
		// Only reachable if the decoder stopped reading early.
		r.err = fmt.Errorf("zst: offset %d: %w: decoder stopped before the end of the input", r.s.off, ErrCorrupt)
	case err == io.EOF:
		r.err = io.EOF
	default:
		r.err = fmt.Errorf("zst: offset %d: %w", r.s.cur, err)
	}
	return n, r.err
}

// Close releases the decoder. It does not close the underlying reader.
func (r *Reader) Close() {
	r.dec.Close()
}

// Parts of a stream the scanner can be in.
const (
	stMagic       = iota // the 4-byte magic number of a frame
	stFrameHeader        // Frame_Header_Descriptor
	stHeaderRest         // window descriptor, dictionary ID, content size
	stBlockHeader        // 3-byte block header
	stBlockBody          // block content
	stChecksum           // 4-byte content checksum
	stSkipSize           // 4-byte size of a skippable frame
	stSkipBody           // content of a skippable frame
)

var stateNames = [...]string{
	stMagic:       "frame magic number",
	stFrameHeader: "frame header",
	stHeaderRest:  "frame header",
	stBlockHeader: "block header",
	stBlockBody:   "block",
	stChecksum:    "content checksum",
	stSkipSize:    "skippable frame header",
	stSkipBody:    "skippable frame",
}

const (
	frameMagic     = 0xFD2FB528
	skippableMagic = 0x184D2A50 // low 4 bits are free
	skippableMask  = 0xFFFFFFF0
)

// scanner passes the compressed input through to the decoder and follows
// its structure (RFC 8878, section 3.1) on the way, so that it knows at
// every point whether the input may end there.
type scanner struct {
	r      io.Reader
	off    int64 // bytes passed through
	state  int
	need   int64   // size of a fixed-size part; bytes to come of another
	buf    [4]byte // the bytes of a fixed-size part
	nbuf   int     // how many of them have come
	frames int     // complete frames, skippable ones included
	unit   int64   // offset of the current frame, block or checksum
	cur    int64   // unit of the last byte passed through
	last   bool    // the current block is the frame's last
	crc    bool    // the current frame has a content checksum
	err    error
}

// Read reads from the input and checks what it reads. It returns io.EOF
// only where the input may end: after a complete frame.
func (s *scanner) Read(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if ferr := s.feed(p[:n]); ferr != nil {
		s.err = ferr
		return 0, s.err
	}
	switch {
	case err == io.EOF:
		if !s.complete() {
			s.err = s.truncated()
			return n, s.err
		}
	case err != nil:
		s.err = fmt.Errorf("zst: offset %d: %w", s.off, err)
		return n, s.err
	}
	return n, err
}

// complete reports whether the input may end where the scanner is.
func (s *scanner) complete() bool {
	return s.state == stMagic && s.nbuf == 0 && s.frames > 0
}

func (s *scanner) truncated() error {
	if s.off == 0 {
		return fmt.Errorf("zst: offset 0: %w: empty input", ErrTruncated)
	}
	return fmt.Errorf("zst: offset %d: %w: input ends inside the %s at offset %d", s.off, ErrTruncated, stateNames[s.state], s.unit)
}

// feed follows the structure through b.
func (s *scanner) feed(b []byte) error {
	for len(b) > 0 {
		s.cur = s.unit
		switch s.state {
		case stHeaderRest, stBlockBody, stSkipBody:
			k := min(int64(len(b)), s.need)
			b = b[k:]
			s.off += k
			s.need -= k
		default:
			k := min(len(b), int(s.need)-s.nbuf)
			copy(s.buf[s.nbuf:], b[:k])
			b = b[k:]
			s.off += int64(k)
			s.nbuf += k
			if s.nbuf < int(s.need) {
				return nil
			}
			s.nbuf = 0
			s.need = 0
		}
		if s.need == 0 {
			if err := s.next(); err != nil {
				return err
			}
		}
	}
	return nil
}

// start begins a part of n bytes at the current offset.
func (s *scanner) start(state int, n int64) {
	s.state, s.need = state, n
}

// next interprets the part just completed and moves to the following one.
func (s *scanner) next() error {
	switch s.state {
	case stMagic:
		m := binary.LittleEndian.Uint32(s.buf[:4])
		switch {
		case m == frameMagic:
			s.start(stFrameHeader, 1)
		case m&skippableMask == skippableMagic:
			s.start(stSkipSize, 4)
		default:
			return fmt.Errorf("zst: offset %d: %w: bytes %x are not a zstd frame", s.unit, ErrCorrupt, s.buf[:4])
		}
	case stFrameHeader:
		fhd := s.buf[0]
		single := fhd&0x20 != 0
		s.crc = fhd&0x04 != 0
		n := int64([4]int{0, 1, 2, 4}[fhd&3]) // dictionary ID
		switch fhd >> 6 {                     // frame content size
		case 0:
			if single {
				n++
			}
		case 1:
			n += 2
		case 2:
			n += 4
		case 3:
			n += 8
		}
		if !single {
			n++ // window descriptor
		}
		s.start(stHeaderRest, n)
	case stHeaderRest:
		s.unit = s.off
		s.start(stBlockHeader, 3)
	case stBlockHeader:
		h := uint32(s.buf[0]) | uint32(s.buf[1])<<8 | uint32(s.buf[2])<<16
		s.last = h&1 != 0
		size := int64(h >> 3)
		switch (h >> 1) & 3 {
		case 1: // RLE: one byte, repeated size times
			size = 1
		case 3:
			return fmt.Errorf("zst: offset %d: %w: reserved block type", s.unit, ErrCorrupt)
		}
		s.start(stBlockBody, size)
	case stBlockBody:
		switch {
		case !s.last:
			s.unit = s.off
			s.start(stBlockHeader, 3)
		case s.crc:
			s.unit = s.off
			s.start(stChecksum, 4)
		default:
			s.endFrame()
		}
	case stChecksum, stSkipBody:
		s.endFrame()
	case stSkipSize:
		s.start(stSkipBody, int64(binary.LittleEndian.Uint32(s.buf[:4])))
	}
	// A part may be empty: a frame header without optional fields, an
	// empty raw block, a skippable frame without content.
	if s.need == 0 && s.state != stMagic {
		return s.next()
	}
	return nil
}

// endFrame counts a complete frame and expects the next one.
func (s *scanner) endFrame() {
	s.frames++
	s.unit = s.off
	s.start(stMagic, 4)
}
