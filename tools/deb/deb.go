// Package deb reads Debian binary packages (.deb) as a stream: the ar
// archive (global header, 60-byte member headers, contents padded to an
// even size) holding debian-binary, control.tar[.EXT] and data.tar[.EXT],
// in that order, plus members whose names start with '_' (ignored, as
// dpkg does). It decompresses data.tar by the member's name (.xz, .zst,
// .gz or none) and reads the whole package to its end, so a bad ar
// header, a truncated member, a size that does not fit, a duplicate or
// missing control or data member, or a compressed stream that is
// corrupt, truncated or followed by other bytes is an error naming the
// member, even when the files asked for came before it.
//
// Files extracts named regular files from data.tar, following nothing
// else (no links). No file is written: callers decide where bytes go.
package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"regexp"
	"strings"

	"github.com/ulikunitz/xz"

	"github.com/icos-build/icos/tools/tarpath"
	"github.com/icos-build/icos/tools/zst"
)

// debianBinary is the content of the debian-binary member dpkg accepts:
// format 2.x.
var debianBinary = regexp.MustCompile(`^2\.[0-9]+\n$`)

// Data reads the .deb from r to its end and calls fn once with a tar
// reader over the decompressed data.tar member; member is its name (e.g.
// "data.tar.xz"). What fn leaves unread of the tar stream is read and
// checked after it returns. An error of fn is returned as it is; the
// others start with "deb: ".
func Data(r io.Reader, fn func(member string, tr *tar.Reader) error) error {
	var fnErr error
	err := walk(r, func(member string, tr *tar.Reader) error {
		fnErr = fn(member, tr)
		return fnErr
	})
	if err != nil && err == fnErr {
		return err
	}
	if err != nil {
		return fmt.Errorf("deb: %w", err)
	}
	return nil
}

// Files reads the .deb from r to its end and returns the content of the
// regular files of data.tar named in names, keyed by the names as given.
// A name is matched with or without a leading "./" ("usr/lib/x" and
// "./usr/lib/x" are the same file). A name missing from data.tar, or
// whose entry is not a regular file (a directory, symbolic or hard link,
// device), or that appears twice, is an error; so is an entry name that
// is unsafe (absolute, with ".." components).
func Files(r io.Reader, names ...string) (map[string][]byte, error) {
	want := map[string]string{} // canonical name -> name as given
	for _, n := range names {
		c, err := tarpath.Clean(n)
		if err != nil || c == "" {
			return nil, fmt.Errorf("deb: file %s: not a file path in a package", tarpath.Quote(n))
		}
		if prev, dup := want[c]; dup {
			return nil, fmt.Errorf("deb: file %s asked for twice (as %s)", tarpath.Quote(n), tarpath.Quote(prev))
		}
		want[c] = n
	}
	out := map[string][]byte{}
	err := walk(r, func(member string, tr *tar.Reader) error {
		for {
			h, err := tr.Next()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("member %s: tar: %w", member, err)
			}
			c, err := tarpath.Clean(h.Name)
			if err != nil {
				return fmt.Errorf("member %s: %w", member, err)
			}
			given, ok := want[c]
			if !ok {
				continue
			}
			if _, dup := out[given]; dup {
				return fmt.Errorf("member %s: %s appears twice", member, tarpath.Quote(h.Name))
			}
			if h.Typeflag != tar.TypeReg {
				return fmt.Errorf("member %s: %s is %s, not a regular file", member, tarpath.Quote(h.Name), typeName(h.Typeflag))
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				return fmt.Errorf("member %s: %s: %w", member, tarpath.Quote(h.Name), err)
			}
			out[given] = b
		}
	})
	if err != nil {
		return nil, fmt.Errorf("deb: %w", err)
	}
	var missing []string
	for _, n := range names {
		if _, ok := out[n]; !ok {
			missing = append(missing, tarpath.Quote(n))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("deb: data.tar has no %s", strings.Join(missing, ", "))
	}
	return out, nil
}

// typeName names a tar entry type for an error message.
func typeName(t byte) string {
	switch t {
	case tar.TypeDir:
		return "a directory"
	case tar.TypeSymlink:
		return "a symbolic link"
	case tar.TypeLink:
		return "a hard link"
	case tar.TypeChar, tar.TypeBlock:
		return "a device"
	case tar.TypeFifo:
		return "a FIFO"
	}
	return fmt.Sprintf("of type %q", t)
}

// walk reads the whole .deb and calls fn with the data.tar stream.
// Errors are not prefixed.
func walk(r io.Reader, fn func(member string, tr *tar.Reader) error) error {
	a, err := newArReader(r)
	if err != nil {
		return err
	}
	m, err := a.next()
	if err == io.EOF {
		return fmt.Errorf("empty ar archive: no debian-binary member")
	}
	if err != nil {
		return err
	}
	if m.name != "debian-binary" {
		return fmt.Errorf("first member is %s, want debian-binary", quote(m.name))
	}
	if m.size > 64 {
		return fmt.Errorf("member debian-binary: %d bytes, want a version line", m.size)
	}
	v, err := io.ReadAll(m)
	if err != nil {
		return fmt.Errorf("member debian-binary: %w", err)
	}
	if !debianBinary.Match(v) {
		return fmt.Errorf("member debian-binary: format %q, want 2.x", v)
	}
	var control, data string
	for {
		m, err := a.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		switch kind, _, _ := strings.Cut(m.name, "."); {
		case strings.HasPrefix(m.name, "_"):
			// dpkg ignores these members
		case kind == "control" && strings.HasPrefix(m.name, "control.tar"):
			if control != "" {
				return fmt.Errorf("duplicate member %s (after %s)", quote(m.name), control)
			}
			if data != "" {
				return fmt.Errorf("member %s after the data member %s", quote(m.name), data)
			}
			if _, ok := compressions[strings.TrimPrefix(m.name, "control.tar")]; !ok {
				return fmt.Errorf("member %s: unsupported compression", quote(m.name))
			}
			control = m.name
		case kind == "data" && strings.HasPrefix(m.name, "data.tar"):
			if data != "" {
				return fmt.Errorf("duplicate member %s (after %s)", quote(m.name), data)
			}
			if control == "" {
				return fmt.Errorf("member %s before any control.tar member", quote(m.name))
			}
			data = m.name
			if err := readData(m, fn); err != nil {
				return err
			}
		default:
			return fmt.Errorf("unexpected member %s", quote(m.name))
		}
	}
	switch {
	case control == "":
		return fmt.Errorf("no control.tar member")
	case data == "":
		return fmt.Errorf("no data.tar member")
	}
	return nil
}

// compressions maps the suffix of a member name after ".tar" to its
// decompressor; each returns a reader and a check to run once the reader
// returned io.EOF.
var compressions = map[string]func(io.Reader) (io.Reader, func() error, error){
	"": func(r io.Reader) (io.Reader, func() error, error) { return r, func() error { return nil }, nil },
	".gz": func(r io.Reader) (io.Reader, func() error, error) {
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, fmt.Errorf("gzip: %w", unexpected(err))
		}
		return &prefixed{z, "gzip:"}, z.Close, nil
	},
	".xz":  newXZ,
	".zst": newZstd,
}

func newZstd(r io.Reader) (io.Reader, func() error, error) {
	z, err := zst.NewReader(r)
	if err != nil {
		return nil, nil, err
	}
	return z, func() error { z.Close(); return nil }, nil
}

// readData decompresses the data member m, hands its tar stream to fn,
// reads the rest of it and checks that the compressed stream ends exactly
// at the end of the member.
func readData(m *member, fn func(member string, tr *tar.Reader) error) error {
	open, ok := compressions[strings.TrimPrefix(m.name, "data.tar")]
	if !ok {
		return fmt.Errorf("member %s: unsupported compression", quote(m.name))
	}
	dec, check, err := open(m)
	if err != nil {
		return fmt.Errorf("member %s: %w", quote(m.name), err)
	}
	if err := fn(m.name, tar.NewReader(dec)); err != nil {
		return err
	}
	if _, err := io.Copy(io.Discard, dec); err != nil {
		return fmt.Errorf("member %s: %w", quote(m.name), err)
	}
	if err := check(); err != nil {
		return fmt.Errorf("member %s: %w", quote(m.name), err)
	}
	if n, err := io.Copy(io.Discard, m); err != nil {
		return fmt.Errorf("member %s: %w", quote(m.name), err)
	} else if n > 0 {
		return fmt.Errorf("member %s: %d bytes after the end of the compressed stream", quote(m.name), n)
	}
	return nil
}

// xzFooterSize is the size of an xz stream footer; xzHeaderSize that of
// the stream header.
const (
	xzFooterSize = 12
	xzHeaderSize = 12
)

// newXZ decompresses one xz stream. The decoder checks every block and
// the index, but takes an input that ends right after a block (or part
// of a block header) for a complete stream; so the bytes it read are
// also required to end in a valid stream footer whose flags are those of
// the stream header.
func newXZ(r io.Reader) (io.Reader, func() error, error) {
	rec := &edges{r: r}
	z, err := xz.ReaderConfig{SingleStream: true}.NewReader(rec)
	if err != nil {
		return nil, nil, fmt.Errorf("xz: %w", unexpected(err))
	}
	return &prefixed{z, "xz:"}, func() error {
		head, tail := rec.head, rec.tail
		switch {
		case len(head) < xzHeaderSize || len(tail) < xzFooterSize || rec.n < xzHeaderSize+xzFooterSize:
			return fmt.Errorf("xz: truncated stream")
		case string(tail[10:12]) != "YZ":
			return fmt.Errorf("xz: truncated stream: no stream footer at the end")
		case crc32.ChecksumIEEE(tail[4:10]) != binary.LittleEndian.Uint32(tail[0:4]):
			return fmt.Errorf("xz: stream footer CRC32 mismatch")
		case !bytes.Equal(tail[8:10], head[6:8]):
			return fmt.Errorf("xz: stream footer flags % x differ from the header's % x", tail[8:10], head[6:8])
		}
		return nil
	}, nil
}

// prefixed prefixes the errors of a decompressor that do not start with
// its name already.
type prefixed struct {
	r    io.Reader
	name string // "xz:", "gzip:"
}

func (p *prefixed) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if err != nil && err != io.EOF && !strings.HasPrefix(err.Error(), p.name) {
		err = fmt.Errorf("%s %w", p.name, err)
	}
	return n, err
}

// edges passes r through, keeping the first xzHeaderSize and the last
// xzFooterSize bytes read.
type edges struct {
	r          io.Reader
	n          int64
	head, tail []byte
}

func (e *edges) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	b := p[:n]
	if len(e.head) < xzHeaderSize {
		k := min(xzHeaderSize-len(e.head), len(b))
		e.head = append(e.head, b[:k]...)
	}
	if len(b) >= xzFooterSize {
		e.tail = append(e.tail[:0], b[len(b)-xzFooterSize:]...)
	} else {
		e.tail = append(e.tail, b...)
		e.tail = e.tail[max(0, len(e.tail)-xzFooterSize):]
	}
	e.n += int64(n)
	return n, err
}
