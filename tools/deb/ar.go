package deb

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// arMagic starts every ar archive.
const arMagic = "!<arch>\n"

// headerSize is the size of an ar member header.
const headerSize = 60

// arReader walks the members of an ar archive read from a stream.
type arReader struct {
	r    io.Reader
	off  int64   // offset in the archive of the next byte of r
	cur  *member // the member being read, nil before the first
	left int64   // bytes of cur not yet read
}

// member is one ar member; it reads its content and reports a stream
// that ends early as truncation. Its errors do not name it: the caller
// adds the name.
type member struct {
	ar     *arReader
	name   string
	size   int64
	offset int64 // of the content in the archive
}

func newArReader(r io.Reader) (*arReader, error) {
	var magic [len(arMagic)]byte
	n, err := io.ReadFull(r, magic[:])
	if err != nil || string(magic[:]) != arMagic {
		if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("reading the ar header: %w", err)
		}
		return nil, fmt.Errorf("not an ar archive: starts with %q, want %q", magic[:n], arMagic)
	}
	return &arReader{r: r, off: int64(n)}, nil
}

// next skips what is left of the current member and its padding and
// returns the next member; io.EOF after the last one.
func (a *arReader) next() (*member, error) {
	if a.cur != nil {
		if _, err := io.Copy(io.Discard, a.cur); err != nil {
			return nil, fmt.Errorf("member %s: %w", quote(a.cur.name), err)
		}
		if a.cur.size%2 == 1 {
			var pad [1]byte
			if _, err := io.ReadFull(a.r, pad[:]); err != nil {
				return nil, fmt.Errorf("member %s: the padding byte at offset %d: %w", a.cur.name, a.off, unexpected(err))
			}
			if pad[0] != '\n' {
				return nil, fmt.Errorf("member %s: padding byte at offset %d is %#x, want '\\n'", a.cur.name, a.off, pad[0])
			}
			a.off++
		}
		a.cur = nil
	}
	var h [headerSize]byte
	n, err := io.ReadFull(a.r, h[:])
	switch {
	case err == io.EOF:
		return nil, io.EOF
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, fmt.Errorf("truncated member header at offset %d: %d of %d bytes", a.off, n, headerSize)
	case err != nil:
		return nil, fmt.Errorf("member header at offset %d: %w", a.off, err)
	}
	start := a.off
	a.off += headerSize
	name := string(bytes.TrimRight(h[0:16], " "))
	if len(name) > 1 && name[len(name)-1] == '/' {
		name = name[:len(name)-1] // GNU ar ends names with '/'
	}
	if name == "" {
		return nil, fmt.Errorf("member at offset %d has an empty name", start)
	}
	if string(h[58:60]) != "`\n" {
		return nil, fmt.Errorf("member %s at offset %d: bad header terminator %q, want \"`\\n\"", quote(name), start, h[58:60])
	}
	field := string(bytes.TrimRight(h[48:58], " "))
	size, err := strconv.ParseInt(field, 10, 64)
	if err != nil || !allDigits(field) {
		return nil, fmt.Errorf("member %s at offset %d: size field %q is not a decimal number", quote(name), start, h[48:58])
	}
	a.cur = &member{ar: a, name: name, size: size, offset: a.off}
	a.left = size
	return a.cur, nil
}

// Read reads the member's content; a stream ending before its size is
// an error naming the member.
func (m *member) Read(p []byte) (int, error) {
	a := m.ar
	if a.cur != m {
		return 0, errors.New("read after the next member started")
	}
	if a.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > a.left {
		p = p[:a.left]
	}
	n, err := a.r.Read(p)
	a.left -= int64(n)
	a.off += int64(n)
	if err == io.EOF && a.left > 0 {
		return n, fmt.Errorf("truncated: the archive ends after %d of its %d bytes: %w", m.size-a.left, m.size, io.ErrUnexpectedEOF)
	}
	if err != nil && err != io.EOF {
		return n, err
	}
	return n, nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// unexpected turns a clean io.EOF into io.ErrUnexpectedEOF.
func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// quote quotes a member name when it holds anything but printable ASCII
// without spaces.
func quote(name string) string {
	for i := 0; i < len(name); i++ {
		if name[i] <= ' ' || name[i] > '~' || name[i] == '"' {
			return strconv.Quote(name)
		}
	}
	return name
}
