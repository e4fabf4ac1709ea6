package sparse

import (
	"archive/tar"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/tarpath"
)

// FileMode, FileUID and FileGID are the fixed owner and permissions of every
// file entry the Writer adds: an archive of disk images carries no host
// metadata.
const (
	FileMode = 0o644
	FileUID  = 0
	FileGID  = 0
)

// maxOctal11 is the largest value of an 11-digit octal ustar number field
// (size, mtime).
const maxOctal11 = 1<<33 - 1

// copyBuf is the buffer size of the data pass.
const copyBuf = 1 << 20

// Options configure a Writer.
type Options struct {
	// ModTime is the mtime of every entry; the zero value means the Unix
	// epoch (0). It must lie between the epoch and year 2242 (the ustar
	// field), whole seconds are used.
	ModTime time.Time
}

// Writer writes a tar stream of regular files. Files containing all-zero
// blocks become PAX 1.0 GNU sparse entries (only the data is stored);
// files without holes become plain ustar entries (PAX when larger than
// 8 GiB). All entries have mode FileMode, owner FileUID:FileGID, the
// configured mtime and no user or group names.
type Writer struct {
	w     io.Writer
	tw    *tar.Writer
	mtime int64
	buf   []byte
}

// NewWriter returns a Writer producing a tar stream on w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	var mtime int64
	if !opts.ModTime.IsZero() {
		mtime = opts.ModTime.Unix()
	}
	if mtime < 0 || mtime > maxOctal11 {
		return nil, fmt.Errorf("sparse: mtime %d out of range 0..%d", mtime, int64(maxOctal11))
	}
	return &Writer{w: w, tw: tar.NewWriter(w), mtime: mtime}, nil
}

// AddFile adds a regular file named name (canonicalised with tarpath.Clean)
// whose size bytes are read from r. r is read twice: once to find the
// holes, once to copy the data, so it must not change meanwhile; it is
// never held in memory.
func (w *Writer) AddFile(name string, r io.ReaderAt, size int64) error {
	clean, err := tarpath.Clean(name)
	if err != nil {
		return fmt.Errorf("sparse: entry %q: %w", name, err)
	}
	if clean == "" {
		return fmt.Errorf("sparse: entry %q: a file cannot be the root directory", name)
	}
	segs, err := Scan(r, size)
	if err != nil {
		return fmt.Errorf("sparse: entry %q: %w", clean, err)
	}
	if size == 0 || (len(segs) == 1 && segs[0].Length == size) {
		err = w.addPlain(clean, r, size)
	} else {
		err = w.addSparse(clean, r, size, segs)
	}
	if err != nil {
		return fmt.Errorf("sparse: entry %q: %w", clean, err)
	}
	return nil
}

// Close writes the end-of-archive marker. It does not close the underlying
// writer.
func (w *Writer) Close() error {
	if err := w.tw.Close(); err != nil {
		return fmt.Errorf("sparse: %w", err)
	}
	return nil
}

func (w *Writer) addPlain(name string, r io.ReaderAt, size int64) error {
	hdr := &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Mode:     FileMode,
		Uid:      FileUID,
		Gid:      FileGID,
		Size:     size,
		ModTime:  time.Unix(w.mtime, 0),
	}
	if err := w.tw.WriteHeader(hdr); err != nil {
		return err
	}
	return w.copySegment(w.tw, r, Segment{0, size})
}

// addSparse writes a PAX 1.0 sparse entry (see sparseHeaders) followed by
// the data segments and the padding.
func (w *Writer) addSparse(name string, r io.ReaderAt, size int64, segs []Segment) error {
	head, stored, err := sparseHeaders(name, size, segs, w.mtime)
	if err != nil {
		return err
	}
	if err := w.tw.Flush(); err != nil {
		return err
	}
	if _, err := w.w.Write(head); err != nil {
		return err
	}
	for _, s := range segs {
		if err := w.copySegment(w.w, r, s); err != nil {
			return err
		}
	}
	if pad := blockPad(stored); pad > 0 {
		if _, err := w.w.Write(make([]byte, pad)); err != nil {
			return err
		}
	}
	return nil
}

// sparseHeaders returns the start of a PAX 1.0 sparse entry for a file of
// size bytes whose data is segs: an 'x' header with the GNU.sparse.*
// records (and a size record when the stored size exceeds the ustar field),
// a ustar header named dir/GNUSparseFile.0/base, and the map (count, then
// offset and length of each segment, as decimal lines, padded to a block).
// The data segments follow; stored is the size of map plus data.
func sparseHeaders(name string, size int64, segs []Segment, mtime int64) (head []byte, stored int64, err error) {
	// GNU tar sizes the extracted file by the end of the last map entry, so
	// a trailing hole needs an empty entry at the end of the file.
	m := segs
	if len(m) == 0 || m[len(m)-1].Offset+m[len(m)-1].Length < size {
		m = append(m[:len(m):len(m)], Segment{size, 0})
	}
	var sb strings.Builder
	sb.WriteString(strconv.Itoa(len(m)))
	sb.WriteByte('\n')
	for _, s := range m {
		sb.WriteString(strconv.FormatInt(s.Offset, 10))
		sb.WriteByte('\n')
		sb.WriteString(strconv.FormatInt(s.Length, 10))
		sb.WriteByte('\n')
	}
	mapBytes := padBlock([]byte(sb.String()))
	stored = int64(len(mapBytes)) + DataSize(segs)

	records := []string{
		paxRecord("GNU.sparse.major", "1"),
		paxRecord("GNU.sparse.minor", "0"),
		paxRecord("GNU.sparse.name", name),
		paxRecord("GNU.sparse.realsize", strconv.FormatInt(size, 10)),
	}
	ustarSize := stored
	if stored > maxOctal11 {
		records = append(records, paxRecord("size", strconv.FormatInt(stored, 10)))
		ustarSize = 0 // the PAX size record holds it
	}
	pax := []byte(strings.Join(records, ""))

	dir, base := "", name
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		dir, base = name[:i+1], name[i+1:]
	}
	xh, err := ustarHeader(dir+"PaxHeaders.0/"+base, 'x', int64(len(pax)), mtime)
	if err != nil {
		return nil, 0, err
	}
	fh, err := ustarHeader(dir+"GNUSparseFile.0/"+base, tar.TypeReg, ustarSize, mtime)
	if err != nil {
		return nil, 0, err
	}
	head = append(xh, padBlock(pax)...)
	head = append(head, fh...)
	return append(head, mapBytes...), stored, nil
}

// copySegment copies one segment of r to dst, failing if r is shorter.
func (w *Writer) copySegment(dst io.Writer, r io.ReaderAt, s Segment) error {
	if w.buf == nil {
		w.buf = make([]byte, copyBuf)
	}
	n, err := io.CopyBuffer(dst, io.NewSectionReader(r, s.Offset, s.Length), w.buf)
	if err != nil {
		return fmt.Errorf("copying data at offset %d: %w", s.Offset, err)
	}
	if n != s.Length {
		return fmt.Errorf("copying data at offset %d: file shrank: got %d of %d bytes", s.Offset, n, s.Length)
	}
	return nil
}

// paxRecord formats one PAX extended header record, "LEN KEY=VALUE\n",
// where LEN counts the whole record including its own digits.
func paxRecord(key, value string) string {
	body := " " + key + "=" + value + "\n"
	n := len(body)
	for {
		total := n + len(strconv.Itoa(n))
		if total == n+len(strconv.Itoa(total)) {
			return strconv.Itoa(total) + body
		}
		n++
	}
}

func blockPad(n int64) int64 { return -n & 511 }

func padBlock(b []byte) []byte {
	return append(b, make([]byte, blockPad(int64(len(b))))...)
}

// ustarHeader encodes a POSIX ustar header block with mode FileMode, owner
// 0:0 and no user or group names. Names that fit are split between the
// prefix and name fields; longer ones are truncated, which is harmless for
// the two header kinds written here (the real name is in the PAX records).
func ustarHeader(name string, typeflag byte, size, mtime int64) ([]byte, error) {
	if size < 0 || size > maxOctal11 || mtime < 0 || mtime > maxOctal11 {
		return nil, fmt.Errorf("header %q: size %d or mtime %d does not fit", name, size, mtime)
	}
	b := make([]byte, 512)
	prefix, short := splitUSTAR(name)
	copy(b[0:100], short)
	putOctal(b[100:108], FileMode)
	putOctal(b[108:116], FileUID)
	putOctal(b[116:124], FileGID)
	putOctal(b[124:136], size)
	putOctal(b[136:148], mtime)
	b[156] = typeflag
	copy(b[257:263], "ustar\x00")
	copy(b[263:265], "00")
	putOctal(b[329:337], 0)
	putOctal(b[337:345], 0)
	copy(b[345:500], prefix)
	// The checksum is computed with its own field set to spaces, then
	// stored as six octal digits, NUL, space.
	copy(b[148:156], "        ")
	var sum int64
	for _, c := range b {
		sum += int64(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b, nil
}

// putOctal writes v as zero-padded octal digits followed by a NUL, filling
// the field.
func putOctal(f []byte, v int64) {
	s := strconv.FormatInt(v, 8)
	s = strings.Repeat("0", len(f)-1-len(s)) + s
	copy(f, s)
	f[len(f)-1] = 0
}

// splitUSTAR splits name into the ustar prefix (up to 155 bytes) and name
// (up to 100 bytes) fields at a slash; names that cannot be split are
// truncated to 100 bytes.
func splitUSTAR(name string) (prefix, short string) {
	if len(name) <= 100 {
		return "", name
	}
	for i := strings.IndexByte(name, '/'); i >= 0 && i <= 155; {
		if len(name)-i-1 <= 100 && i < len(name)-1 {
			return name[:i], name[i+1:]
		}
		j := strings.IndexByte(name[i+1:], '/')
		if j < 0 {
			break
		}
		i += j + 1
	}
	return "", name[:100]
}
