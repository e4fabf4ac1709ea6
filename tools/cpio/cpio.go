// Package cpio writes cpio archives in the "newc" format (magic 070701,
// the format of the Linux initramfs and of `cpio -H newc`), reproducibly:
// the archive is a function of the entries and Options only.
//
// Every entry gets uid and gid 0, the caller's modification time, one link
// (two for directories), device numbers 0 and an inode number counted from
// 1 in the order of the entries. Each header is 110 bytes of ASCII (the
// magic and thirteen 8-digit upper-case hex fields), followed by the name
// and its NUL, padded with zeros to a multiple of 4 bytes; then the data
// (a file's contents or a symlink's target), padded the same way. Close
// writes the "TRAILER!!!" entry; the archive is not padded further (the
// kernel and GNU cpio read it as is, and initrds may be concatenated).
//
// Names are relative slash-separated paths ("usr/lib/icos"), clean, with
// no "." or ".." element. A name's parent directory must have been written
// before it: the kernel's initramfs unpacker does not create missing
// parents. A name written twice is an error.
package cpio

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
)

// Magic is the magic number of a newc header.
const Magic = "070701"

const (
	headerSize = 110
	maxField   = 0xFFFFFFFF
	trailer    = "TRAILER!!!"

	modeDir     = 0o040000
	modeRegular = 0o100000
	modeSymlink = 0o120000
)

// Options are the fixed values of a Writer's headers.
type Options struct {
	// ModTime is the modification time of every entry, in Unix seconds
	// (0 to 4294967295).
	ModTime int64
}

// Writer writes a newc archive entry by entry.
type Writer struct {
	w       io.Writer
	modTime uint32
	ino     uint32
	names   map[string]bool // written names → is a directory
	closed  bool
	err     error // first write error: later calls return it
}

// NewWriter returns a Writer writing to w.
func NewWriter(w io.Writer, opts Options) (*Writer, error) {
	if opts.ModTime < 0 || opts.ModTime > maxField {
		return nil, fmt.Errorf("cpio: modification time %d out of range 0..%d", opts.ModTime, int64(maxField))
	}
	return &Writer{w: w, modTime: uint32(opts.ModTime), names: map[string]bool{}}, nil
}

// Dir writes a directory entry with permission bits perm (e.g. 0o755).
func (w *Writer) Dir(name string, perm fs.FileMode) error {
	if err := w.check(name, perm); err != nil {
		return err
	}
	if err := w.entry(name, modeDir|uint32(perm&0o7777), 2, nil); err != nil {
		return err
	}
	w.names[name] = true
	return nil
}

// File writes a regular file holding data, with permission bits perm.
func (w *Writer) File(name string, perm fs.FileMode, data []byte) error {
	if err := w.check(name, perm); err != nil {
		return err
	}
	if int64(len(data)) > maxField {
		return fmt.Errorf("cpio: %s: %d bytes, more than newc can hold", name, len(data))
	}
	if err := w.entry(name, modeRegular|uint32(perm&0o7777), 1, data); err != nil {
		return err
	}
	w.names[name] = false
	return nil
}

// Symlink writes a symbolic link to target (kept verbatim), mode 0777.
func (w *Writer) Symlink(name, target string) error {
	if err := w.check(name, 0o777); err != nil {
		return err
	}
	if target == "" || strings.IndexByte(target, 0) >= 0 {
		return fmt.Errorf("cpio: %s: invalid symlink target %q", name, target)
	}
	if err := w.entry(name, modeSymlink|0o777, 1, []byte(target)); err != nil {
		return err
	}
	w.names[name] = false
	return nil
}

// Close writes the trailer. It does not close the underlying writer.
func (w *Writer) Close() error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return nil
	}
	w.closed = true
	return w.header(trailer, 0, 0, 1, 0)
}

// check validates a new entry's name and permission bits.
func (w *Writer) check(name string, perm fs.FileMode) error {
	switch {
	case w.err != nil:
		return w.err
	case w.closed:
		return errors.New("cpio: write after Close")
	case name == "" || name == "." || path.Clean(name) != name || strings.HasPrefix(name, "/") ||
		strings.HasPrefix(name, "../") || name == ".." || strings.IndexByte(name, 0) >= 0 || name == trailer:
		return fmt.Errorf("cpio: invalid name %q: want a clean relative path", name)
	case perm&^0o7777 != 0:
		return fmt.Errorf("cpio: %s: mode %v has more than permission bits", name, perm)
	}
	if _, dup := w.names[name]; dup {
		return fmt.Errorf("cpio: %s: written twice", name)
	}
	if dir := path.Dir(name); dir != "." {
		if isDir, ok := w.names[dir]; !ok || !isDir {
			return fmt.Errorf("cpio: %s: parent directory %s not written before it", name, dir)
		}
	}
	return nil
}

// entry writes the header of the next inode and its padded data.
func (w *Writer) entry(name string, mode, nlink uint32, data []byte) error {
	w.ino++
	if err := w.header(name, w.ino, mode, nlink, uint32(len(data))); err != nil {
		return err
	}
	return w.write(data, pad(len(data)))
}

// header writes one header with its name.
func (w *Writer) header(name string, ino, mode, nlink, size uint32) error {
	mtime := w.modTime
	if name == trailer {
		mtime = 0
	}
	b := make([]byte, 0, headerSize+len(name)+4)
	b = append(b, Magic...)
	for _, v := range []uint32{ino, mode, 0, 0, nlink, mtime, size, 0, 0, 0, 0, uint32(len(name) + 1), 0} {
		b = fmt.Appendf(b, "%08X", v)
	}
	b = append(b, name...)
	b = append(b, 0)
	return w.write(b, pad(len(b)))
}

// write writes p and then n zero bytes, keeping the first error.
func (w *Writer) write(p []byte, n int) error {
	if _, err := w.w.Write(p); err != nil {
		w.err = fmt.Errorf("cpio: write: %w", err)
		return w.err
	}
	if n > 0 {
		if _, err := w.w.Write(make([]byte, n)); err != nil {
			w.err = fmt.Errorf("cpio: write: %w", err)
			return w.err
		}
	}
	return nil
}

// pad returns the zero bytes that bring n up to a multiple of 4.
func pad(n int) int { return (4 - n%4) % 4 }
