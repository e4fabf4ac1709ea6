package imgdiff

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/zst"
)

// member is one entry of an unpacked archive.
type member struct {
	hdr  *tar.Header
	file string // unpacked content of a regular member
}

// archive is an unpacked tar or tar+zstd file.
type archive struct {
	compression string // "zstd" or "none"
	members     map[string]*member
	order       []string // names in archive order
	streamSum   string   // sha256 of the uncompressed tar stream
}

// unpack reads the archive f and writes the content of its regular members
// to sparse files under dir (named by position, never by entry name).
func unpack(f *os.File, dir string) (*archive, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	br := bufio.NewReaderSize(f, 1<<20)
	magic, _ := br.Peek(4)
	a := &archive{compression: "none", members: map[string]*member{}}
	var r io.Reader = br
	if bytes.Equal(magic, []byte{0x28, 0xB5, 0x2F, 0xFD}) {
		d, err := zst.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name(), err)
		}
		defer d.Close()
		r = d
		a.compression = "zstd"
	}
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(r, h))
	buf := make([]byte, chunkSize)
	for i := 0; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: tar entry %d: %w", f.Name(), i, err)
		}
		if _, dup := a.members[hdr.Name]; dup {
			return nil, fmt.Errorf("%s: tar entry %q appears twice", f.Name(), hdr.Name)
		}
		m := &member{hdr: hdr}
		a.members[hdr.Name] = m
		a.order = append(a.order, hdr.Name)
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeGNUSparse {
			continue
		}
		m.file = filepath.Join(dir, fmt.Sprintf("member-%d", i))
		if err := extractSparse(tr, m.file, hdr.Size, buf); err != nil {
			return nil, fmt.Errorf("%s: tar entry %q: %w", f.Name(), hdr.Name, err)
		}
	}
	// Drain what follows the end-of-archive marker so it is hashed too.
	if _, err := io.Copy(io.Discard, io.TeeReader(r, h)); err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	a.streamSum = hex.EncodeToString(h.Sum(nil))
	return a, nil
}

// extractSparse copies size bytes of r to a new file, writing only the
// blocks that are not all zeros.
func extractSparse(r io.Reader, name string, size int64, buf []byte) error {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var zero [4096]byte
	for off := int64(0); off < size; {
		k := int(min(int64(len(buf)), size-off))
		if _, err := io.ReadFull(r, buf[:k]); err != nil {
			return err
		}
		for u := 0; u < k; u += len(zero) {
			e := min(u+len(zero), k)
			if !bytes.Equal(buf[u:e], zero[:e-u]) {
				if _, err := f.WriteAt(buf[u:e], off+int64(u)); err != nil {
					return err
				}
			}
		}
		off += int64(k)
	}
	if err := f.Truncate(size); err != nil {
		return err
	}
	return f.Close()
}

// diffArchives compares two archives member by member.
func (r *report) diffArchives(fa, fb *os.File, tmp string) error {
	// Registered with outfile, so a signal handler calling
	// outfile.RemoveTemps removes the unpacked archives.
	d, err := outfile.MkdirTemp(tmp, "icos-diff-")
	if err != nil {
		return err
	}
	defer d.Abort()
	dir := d.Name()
	for _, d := range []string{"a", "b"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return err
		}
	}
	a, err := unpack(fa, filepath.Join(dir, "a"))
	if err != nil {
		return err
	}
	b, err := unpack(fb, filepath.Join(dir, "b"))
	if err != nil {
		return err
	}
	before := len(r.lines)
	if a.compression != b.compression {
		r.add("archive", "compression %s != %s", a.compression, b.compression)
	}
	names := map[string]bool{}
	for n := range a.members {
		names[n] = true
	}
	for n := range b.members {
		names[n] = true
	}
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	if common(a.order, b.members) != common(b.order, a.members) {
		r.add("archive", "member order differs: %s != %s", strings.Join(a.order, ", "), strings.Join(b.order, ", "))
	}
	for _, n := range sorted {
		ma, mb := a.members[n], b.members[n]
		switch {
		case mb == nil:
			r.add(n, "only in A")
			continue
		case ma == nil:
			r.add(n, "only in B")
			continue
		}
		r.diffHeaders(n, ma.hdr, mb.hdr)
		if ma.file == "" || mb.file == "" {
			continue
		}
		if err := r.diffFiles(n, ma.file, mb.file); err != nil {
			return err
		}
	}
	if len(r.lines) == before {
		if a.streamSum == b.streamSum {
			r.add("archive", "the %s streams differ; the tar streams inside are identical (sha256 %s)", a.compression, a.streamSum)
		} else {
			r.add("archive", "the tar streams differ outside member headers and contents (padding or trailer)")
		}
	}
	return nil
}

// common returns the names of order that are also in other, joined.
func common(order []string, other map[string]*member) string {
	var out []string
	for _, n := range order {
		if other[n] != nil {
			out = append(out, n)
		}
	}
	return strings.Join(out, "\x00")
}

func (r *report) diffFiles(prefix, a, b string) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return err
	}
	defer fb.Close()
	va, err := fileView(fa)
	if err != nil {
		return err
	}
	vb, err := fileView(fb)
	if err != nil {
		return err
	}
	if same, _, err := sameBytes(va, vb); err != nil || same {
		return err
	}
	return r.diffImage(prefix, va, vb)
}

// diffHeaders reports differences in the tar headers of a member.
func (r *report) diffHeaders(name string, a, b *tar.Header) {
	cmp := func(field string, x, y any) {
		if x != y {
			r.add(name, "%s %v != %v", field, x, y)
		}
	}
	cmp("type", string(rune(a.Typeflag)), string(rune(b.Typeflag)))
	cmp("mode", fmt.Sprintf("%04o", a.Mode), fmt.Sprintf("%04o", b.Mode))
	cmp("uid", a.Uid, b.Uid)
	cmp("gid", a.Gid, b.Gid)
	cmp("uname", a.Uname, b.Uname)
	cmp("gname", a.Gname, b.Gname)
	cmp("mtime", a.ModTime.UnixNano(), b.ModTime.UnixNano())
	cmp("atime", a.AccessTime.UnixNano(), b.AccessTime.UnixNano())
	cmp("ctime", a.ChangeTime.UnixNano(), b.ChangeTime.UnixNano())
	cmp("link target", a.Linkname, b.Linkname)
	cmp("size", a.Size, b.Size)
	cmp("device", fmt.Sprintf("%d:%d", a.Devmajor, a.Devminor), fmt.Sprintf("%d:%d", b.Devmajor, b.Devminor))
	cmp("format", a.Format, b.Format)
	keys := map[string]bool{}
	for k := range a.PAXRecords {
		keys[k] = true
	}
	for k := range b.PAXRecords {
		keys[k] = true
	}
	var sorted []string
	for k := range keys {
		switch {
		case k == "path", k == "size", k == "mtime", k == "atime", k == "ctime",
			k == "linkpath", k == "uid", k == "gid", k == "uname", k == "gname",
			strings.HasPrefix(k, "GNU.sparse."):
			continue // compared above, or the sparse map of the content
		}
		sorted = append(sorted, k)
	}
	sort.Strings(sorted)
	for _, k := range sorted {
		x, okA := a.PAXRecords[k]
		y, okB := b.PAXRecords[k]
		switch {
		case !okB:
			r.add(name, "PAX record %s: only in A", k)
		case !okA:
			r.add(name, "PAX record %s: only in B", k)
		case x != y:
			r.add(name, "PAX record %s: %q != %q", k, x, y)
		}
	}
}

var errNotGPT = errors.New("no GPT header")
