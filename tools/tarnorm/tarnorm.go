// Package tarnorm rewrites a tar archive into its normal form: the same
// files, in a canonical order, with every detail that depends on the
// machine or the moment that produced it removed. Two archives with the
// same files normalize to the same bytes.
//
// The normal form:
//   - Entries are sorted with tarpath.Less: parents before children,
//     siblings in byte order. Directory names end in "/", the root
//     directory (kept only if the input has one, e.g. "./") is "./".
//   - Missing parent directories are synthesized as mode 0755, owner 0:0
//     directories, so the output extracts without relying on a tool's
//     defaults. Each is an entry with its full name, so a file N levels
//     below its nearest named parent adds N entries to the output; names
//     are at most tarpath.MaxPathLen bytes long, so N is at most 2047.
//   - mtime is Options.ModTime for every entry; atime and ctime are not
//     stored at all (they are not part of the ustar header, and storing
//     them would force a PAX header on every entry). Extraction tools and
//     our filesystem writers then use the mtime or their own fixed value.
//   - Numeric uid and gid are kept; user and group names are dropped.
//     Permission bits keep setuid, setgid and sticky (mode & 07777).
//   - Extended attributes (PAX SCHILY.xattr.* records: security.selinux,
//     security.capability, user.*, ...) are kept; every other PAX record
//     (comments, atime, ctime, LIBARCHIVE.*, ...) is dropped, and PAX
//     global headers are ignored. The header format is chosen per entry by
//     archive/tar: plain ustar unless a PAX record is needed (names that do
//     not fit the 100+155 byte ustar fields, non-ASCII names, xattrs, ids
//     or sizes too large for octal fields).
//   - A path that occurs twice keeps its last occurrence (with
//     Options.Strict it is an error instead).
//   - Hard links are kept as links between the names that share a file:
//     the first name of a group in output order carries the data and the
//     metadata, the others link to it, whatever the order of the input.
//     A link whose target was later replaced keeps the original file. A
//     link to a name that is not earlier in the archive (or is excluded,
//     see Options.Exclude) or to a directory is an error.
//
// Every name is checked with tarpath; entries with unsafe names, unknown
// types, negative or overrunning sizes, device numbers on non-devices and
// so on are errors naming the entry.
//
// Memory use does not grow with the size of the files (only per-entry
// metadata is kept in memory): when the input is a
// regular file (NormalizeFile with a path, or standard input redirected from
// a file) contents are read a second time from it when writing, and it must
// not change meanwhile; otherwise (a pipe) they are spooled to an unlinked
// temporary file. Sparse entries of the input are expanded into regular
// files.
package tarnorm

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/tarpath"
)

// xattrPrefix starts the PAX record keys holding extended attributes.
const xattrPrefix = "SCHILY.xattr."

// ioBuf is the buffer size used for input, spool and output I/O.
const ioBuf = 1 << 20

// ErrEmpty is the error for an input of no bytes at all: archive/tar would
// read it as an archive without entries, GNU tar rejects it. (An archive
// of just the two zero end blocks is valid and normalizes to itself.)
var ErrEmpty = errors.New("empty input, not a tar")

// Options configure Normalize.
type Options struct {
	// ModTime is the mtime of every entry; the zero value means the Unix
	// epoch. Whole seconds are used.
	ModTime time.Time
	// Exclude lists path.Match globs matched against canonical names
	// (relative, no leading "./" or "/", no trailing "/"; a leading "/"
	// or "./" in a glob is ignored). An entry is dropped when a glob
	// matches its name or the name of one of its parents: "run" drops run
	// and everything below it, "run/*" keeps the run directory itself but
	// drops everything below it, "*.pyc" drops top-level .pyc files only
	// ("*" does not match "/").
	Exclude []string
	// Strict makes a path that occurs more than once an error instead of
	// "last occurrence wins".
	Strict bool
	// TempDir is where file contents are spooled when the input is not a
	// regular file; "" means os.TempDir().
	// It has no influence on the output.
	TempDir string
}

// inode is one file of the archive; several names share it when they are
// hard links to each other.
type inode struct {
	typeflag byte
	mode     int64
	uid, gid int
	size     int64       // regular files
	src      io.ReaderAt // where the contents are: input or spool
	off      int64       // offset of the contents in src
	linkname string      // symlink target
	devmajor int64
	devminor int64
	xattrs   map[string]string
}

// implicitDir is the inode of the parent directories no entry names.
var implicitDir = &inode{typeflag: tar.TypeDir, mode: 0o755}

// node is a name of the archive in a tree of names: it holds its own
// component only (as its key in the parent), so memory stays linear in the
// size of the input however deep the paths are.
type node struct {
	ino      *inode           // nil for a parent no entry names
	children map[string]*node // nil until it has some
}

// glob is an exclude pattern with the range of '/' counts a name it
// matches can have.
type glob struct {
	pat          string
	minSl, maxSl int
}

// newGlob computes the '/' range of a valid pattern: '*' and '?' never
// match '/', so a match has one '/' for each '/' (escaped or not) of the
// pattern plus at most one for each character class.
func newGlob(pat string) glob {
	g := glob{pat: pat}
	classes := 0
	for i := 0; i < len(pat); i++ {
		switch pat[i] {
		case '/':
			g.minSl++
		case '\\':
			if i++; i < len(pat) && pat[i] == '/' {
				g.minSl++
			}
		case '[':
			classes++
			for i++; i < len(pat) && pat[i] != ']'; i++ {
				if pat[i] == '\\' {
					i++
				}
			}
		}
	}
	g.maxSl = g.minSl + classes
	return g
}

// Normalize reads a tar archive from src and writes its normal form to dst.
// All of src is read and checked before the first byte is written, so an
// invalid input produces no output at all.
func Normalize(dst io.Writer, src io.Reader, opts Options) error {
	n, err := newNormalizer(opts)
	if err != nil {
		return err
	}
	defer n.close()
	if f, ok := src.(*os.File); ok {
		n.useDirect(f)
	}
	if err := n.read(src); err != nil {
		return err
	}
	return n.write(dst)
}

// NormalizeFile normalizes the archive at input into output; "-" means
// standard input or output. A file output appears only when complete: on
// any error nothing is left at output.
func NormalizeFile(output, input string, opts Options) error {
	var src io.Reader = os.Stdin
	if input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return fmt.Errorf("tarnorm: %w", err)
		}
		defer f.Close()
		src = f
	}
	if output == "-" {
		bw := bufio.NewWriterSize(os.Stdout, ioBuf)
		if err := Normalize(bw, src, opts); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("tarnorm: writing standard output: %w", err)
		}
		return nil
	}
	out, err := outfile.Create(output, 0o644)
	if err != nil {
		return fmt.Errorf("tarnorm: %w", err)
	}
	defer out.Abort()
	bw := bufio.NewWriterSize(out, ioBuf)
	if err := Normalize(bw, src, opts); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("tarnorm: %s: %w", output, err)
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("tarnorm: %w", err)
	}
	return nil
}

type normalizer struct {
	opts     Options
	mtime    time.Time
	excludes []glob
	spool    *os.File // created on first use
	spoolW   *bufio.Writer
	spoolOff int64
	copyBuf  []byte
	// direct is the input file when contents can be read back from it:
	// data of the entries starts at directBase + offset in the stream,
	// which ends at directEnd.
	direct     *os.File
	directBase int64
	directEnd  int64
	root       *node // the root's ino is nil unless the input has "./"
}

func newNormalizer(opts Options) (*normalizer, error) {
	n := &normalizer{opts: opts, mtime: time.Unix(0, 0), root: &node{}}
	if !opts.ModTime.IsZero() {
		n.mtime = time.Unix(opts.ModTime.Unix(), 0)
	}
	for _, g := range opts.Exclude {
		g = strings.TrimLeft(strings.TrimPrefix(g, "./"), "/")
		g = strings.TrimRight(g, "/")
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return nil, fmt.Errorf("tarnorm: bad exclude pattern %q", g)
		}
		n.excludes = append(n.excludes, newGlob(g))
	}
	return n, nil
}

// useDirect reads contents back from f when it is a regular file.
func (n *normalizer) useDirect(f *os.File) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return
	}
	base, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	n.direct, n.directBase, n.directEnd = f, base, st.Size()
}

// spoolFile returns the spool, creating it on first use.
func (n *normalizer) spoolFile() (*bufio.Writer, error) {
	if n.spool == nil {
		f, err := os.CreateTemp(n.opts.TempDir, "tarnorm-spool-*")
		if err != nil {
			return nil, fmt.Errorf("spool file: %w", err)
		}
		// Unlinked at once: nothing is left behind even if the process dies.
		os.Remove(f.Name())
		n.spool = f
		n.spoolW = bufio.NewWriterSize(f, ioBuf)
	}
	return n.spoolW, nil
}

func (n *normalizer) close() {
	if n.spool != nil {
		n.spool.Close()
	}
}

// excluded reports whether a canonical name or one of its parents matches
// an exclude glob. The root is never excluded. Only the names with as many
// '/' as a glob can match are tried, so the time is linear in len(name).
func (n *normalizer) excluded(name string) bool {
	for _, g := range n.excludes {
		slashes := 0
		for p := range tarpath.Prefixes(name) {
			if slashes > g.maxSl {
				break
			}
			if slashes >= g.minSl {
				if ok, _ := path.Match(g.pat, p); ok {
					return true
				}
			}
			slashes++
		}
	}
	return false
}

// recorder remembers the last header-sized block read through it and the
// number of bytes read, so a header archive/tar rejects can still be
// named in the error.
type recorder struct {
	r    io.Reader
	last [512]byte
	n    int64
}

func (r *recorder) Read(p []byte) (int, error) {
	k, err := r.r.Read(p)
	b := p[:k]
	if len(b) >= len(r.last) {
		copy(r.last[:], b[len(b)-len(r.last):])
	} else {
		copy(r.last[:], r.last[len(b):])
		copy(r.last[len(r.last)-len(b):], b)
	}
	r.n += int64(k)
	return k, err
}

// rawName returns the name fields of the last block read if it looks like
// a ustar or GNU header.
func (r *recorder) rawName() (string, bool) {
	b := r.last[:]
	if r.n < 512 || string(b[257:262]) != "ustar" {
		return "", false
	}
	cstr := func(f []byte) string {
		if i := strings.IndexByte(string(f), 0); i >= 0 {
			return string(f[:i])
		}
		return string(f)
	}
	name := cstr(b[0:100])
	if string(b[257:263]) == "ustar\x00" {
		if p := cstr(b[345:500]); p != "" {
			name = p + "/" + name
		}
	}
	return name, true
}

func (n *normalizer) read(src io.Reader) error {
	rec := &recorder{r: bufio.NewReaderSize(src, ioBuf)}
	tr := tar.NewReader(rec)
	prev := ""
	for i := 1; ; i++ {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil && !(errors.Is(err, tar.ErrInsecurePath) && hdr != nil) {
			where := fmt.Sprintf("entry %d", i)
			if prev != "" {
				where += fmt.Sprintf(" (after %s)", tarpath.Quote(prev))
			}
			if name, ok := rec.rawName(); ok && err != io.ErrUnexpectedEOF {
				where = fmt.Sprintf("entry %q (number %d)", name, i)
			}
			if err == io.ErrUnexpectedEOF {
				err = fmt.Errorf("truncated archive: %w", err)
			}
			return fmt.Errorf("tarnorm: %s, input byte %d: %w", where, rec.n, err)
		}
		prev = hdr.Name
		if err := n.add(hdr, tr, rec.n); err != nil {
			return fmt.Errorf("tarnorm: entry %s: %w", tarpath.Quote(hdr.Name), err)
		}
	}
	if rec.n == 0 {
		return fmt.Errorf("tarnorm: %w", ErrEmpty)
	}
	if n.spoolW != nil {
		if err := n.spoolW.Flush(); err != nil {
			return fmt.Errorf("tarnorm: spool file: %w", err)
		}
	}
	return nil
}

// add checks one entry and records where its contents are: at offset
// dataOff of the input stream, which r reads from.
func (n *normalizer) add(hdr *tar.Header, r io.Reader, dataOff int64) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	name, err := tarpath.Clean(hdr.Name)
	if err != nil {
		return err
	}
	if n.excluded(name) {
		return nil
	}
	ino := &inode{
		typeflag: hdr.Typeflag,
		mode:     hdr.Mode & 0o7777,
		uid:      hdr.Uid,
		gid:      hdr.Gid,
		devmajor: hdr.Devmajor,
		devminor: hdr.Devminor,
	}
	switch {
	case hdr.Size < 0:
		return fmt.Errorf("negative size %d", hdr.Size)
	case hdr.Uid < 0 || hdr.Gid < 0:
		return fmt.Errorf("negative owner %d:%d", hdr.Uid, hdr.Gid)
	case hdr.Devmajor < 0 || hdr.Devminor < 0:
		return fmt.Errorf("negative device number %d,%d", hdr.Devmajor, hdr.Devminor)
	}
	switch hdr.Typeflag {
	case tar.TypeReg, tar.TypeCont, tar.TypeGNUSparse:
		ino.typeflag = tar.TypeReg
	case tar.TypeDir, tar.TypeSymlink, tar.TypeLink, tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
	default:
		return fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	if ino.typeflag != tar.TypeReg && hdr.Size != 0 {
		return fmt.Errorf("size %d on an entry of type %q, which has no data", hdr.Size, hdr.Typeflag)
	}
	if ino.typeflag != tar.TypeChar && ino.typeflag != tar.TypeBlock && (hdr.Devmajor != 0 || hdr.Devminor != 0) {
		return fmt.Errorf("device numbers %d,%d on an entry of type %q", hdr.Devmajor, hdr.Devminor, hdr.Typeflag)
	}
	if name == "" && ino.typeflag != tar.TypeDir {
		return fmt.Errorf("the root must be a directory, not type %q", hdr.Typeflag)
	}
	if ino.typeflag != tar.TypeLink && ino.typeflag != tar.TypeSymlink && hdr.Linkname != "" {
		return fmt.Errorf("link target %q on an entry of type %q", hdr.Linkname, hdr.Typeflag)
	}
	for k, v := range hdr.PAXRecords {
		if x, ok := strings.CutPrefix(k, xattrPrefix); ok {
			if x == "" {
				return fmt.Errorf("extended attribute with an empty name")
			}
			if ino.xattrs == nil {
				ino.xattrs = map[string]string{}
			}
			ino.xattrs[x] = v
		}
	}

	switch ino.typeflag {
	case tar.TypeSymlink:
		if err := tarpath.CheckSymlink(name, hdr.Linkname); err != nil {
			return err
		}
		ino.linkname = hdr.Linkname
	case tar.TypeLink:
		target, err := tarpath.CleanHardlink(name, hdr.Linkname)
		if err != nil {
			return err
		}
		t := n.find(target)
		if t == nil {
			return fmt.Errorf("hard link to %q, which is not in the archive before it (or is excluded)", target)
		}
		if t.typeflag == tar.TypeDir {
			return fmt.Errorf("hard link to directory %q", target)
		}
		return n.bind(name, t)
	case tar.TypeReg:
		ino.size = hdr.Size
		if n.direct != nil && !isSparse(hdr) {
			ino.src, ino.off = n.direct, n.directBase+dataOff
			if avail := n.directEnd - ino.off; hdr.Size > avail {
				return fmt.Errorf("size %d but only %d bytes of data before the archive ends (truncated)", hdr.Size, max(avail, 0))
			}
			break
		}
		sw, err := n.spoolFile()
		if err != nil {
			return err
		}
		ino.src, ino.off = n.spool, n.spoolOff
		if n.copyBuf == nil {
			n.copyBuf = make([]byte, ioBuf)
		}
		// Plain Writer/Reader wrappers keep io.CopyBuffer on our buffer
		// (ReadFrom/WriteTo paths would allocate one per entry).
		k, err := io.CopyBuffer(struct{ io.Writer }{sw}, struct{ io.Reader }{r}, n.copyBuf)
		n.spoolOff += k
		if err != nil {
			if err == io.ErrUnexpectedEOF {
				return fmt.Errorf("size %d but only %d bytes of data before the archive ends (truncated): %w", hdr.Size, k, err)
			}
			return fmt.Errorf("reading data: %w", err)
		}
		if k != hdr.Size {
			return fmt.Errorf("size %d but %d bytes of data", hdr.Size, k)
		}
	}
	return n.bind(name, ino)
}

// find returns the inode of an entry of the input, or nil.
func (n *normalizer) find(name string) *inode {
	e := n.root
	for _, c := range tarpath.Prefixes(name) {
		if e = e.children[c]; e == nil {
			return nil
		}
	}
	return e.ino
}

// bind records that name refers to ino, replacing any earlier entry.
func (n *normalizer) bind(name string, ino *inode) error {
	e := n.root
	for _, c := range tarpath.Prefixes(name) {
		next := e.children[c]
		if next == nil {
			if e.children == nil {
				e.children = map[string]*node{}
			}
			next = &node{}
			e.children[c] = next
		}
		e = next
	}
	if e.ino != nil && n.opts.Strict {
		return fmt.Errorf("duplicate path %q", name)
	}
	e.ino = ino
	return nil
}

// sortedChildren returns the names of e's children in byte order: with
// parents first, this is the order of tarpath.Less.
func sortedChildren(e *node) []string {
	names := make([]string, 0, len(e.children))
	for c := range e.children {
		names = append(names, c)
	}
	sort.Strings(names)
	return names
}

// check returns an error if an entry that is not a directory has entries
// below it (the first such one in output order); path holds the
// components down to e.
func check(e *node, path []string) error {
	for _, c := range sortedChildren(e) {
		if e.ino != nil && e.ino.typeflag != tar.TypeDir {
			return fmt.Errorf("tarnorm: entry %q: parent %q is not a directory", strings.Join(append(path, c), "/"), strings.Join(path, "/"))
		}
		if err := check(e.children[c], append(path, c)); err != nil {
			return err
		}
	}
	return nil
}

// write emits the recorded entries in normal form, parents synthesized,
// walking the tree: names are built in one buffer, so memory stays linear
// in the input; the output holds each directory's full name.
func (n *normalizer) write(dst io.Writer) error {
	if err := check(n.root, nil); err != nil {
		return err
	}
	tw := tar.NewWriter(dst)
	first := map[*inode]string{}
	buf := make([]byte, ioBuf)
	emit := func(name string, ino *inode) error {
		hdr := &tar.Header{
			Name:     name,
			Mode:     ino.mode,
			Uid:      ino.uid,
			Gid:      ino.gid,
			ModTime:  n.mtime,
			Typeflag: ino.typeflag,
		}
		if name == "" {
			hdr.Name = "./"
		} else if ino.typeflag == tar.TypeDir {
			hdr.Name += "/"
		}
		if f, ok := first[ino]; ok {
			hdr.Typeflag = tar.TypeLink
			hdr.Linkname = f
			if err := tw.WriteHeader(hdr); err != nil {
				return fmt.Errorf("tarnorm: entry %q: %w", name, err)
			}
			return nil
		}
		if ino.typeflag != tar.TypeDir {
			first[ino] = name
		}
		switch ino.typeflag {
		case tar.TypeReg:
			hdr.Size = ino.size
		case tar.TypeSymlink:
			hdr.Linkname = ino.linkname
		case tar.TypeChar, tar.TypeBlock:
			hdr.Devmajor, hdr.Devminor = ino.devmajor, ino.devminor
		}
		if len(ino.xattrs) > 0 {
			hdr.PAXRecords = make(map[string]string, len(ino.xattrs))
			for k, v := range ino.xattrs {
				hdr.PAXRecords[xattrPrefix+k] = v
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tarnorm: entry %q: %w", name, err)
		}
		if ino.typeflag == tar.TypeReg && ino.size > 0 {
			k, err := io.CopyBuffer(tw, io.NewSectionReader(ino.src, ino.off, ino.size), buf)
			if err != nil {
				return fmt.Errorf("tarnorm: entry %q: %w", name, err)
			}
			if k != ino.size {
				return fmt.Errorf("tarnorm: entry %q: input changed while normalizing: read %d of %d bytes", name, k, ino.size)
			}
		}
		return nil
	}
	var path []byte
	var walk func(e *node) error
	walk = func(e *node) error {
		for _, c := range sortedChildren(e) {
			mark := len(path)
			if mark > 0 {
				path = append(path, '/')
			}
			path = append(path, c...)
			child := e.children[c]
			ino := child.ino
			if ino == nil {
				ino = implicitDir
			}
			if err := emit(string(path), ino); err != nil {
				return err
			}
			if err := walk(child); err != nil {
				return err
			}
			path = path[:mark]
		}
		return nil
	}
	if n.root.ino != nil {
		if err := emit("", n.root.ino); err != nil {
			return err
		}
	}
	if err := walk(n.root); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("tarnorm: %w", err)
	}
	return nil
}

// isSparse reports whether an entry was stored in one of the GNU sparse
// formats, whose data is not a plain copy of the contents.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}
