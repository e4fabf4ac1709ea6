package rootfs

import (
	"archive/tar"
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/icos-build/icos/tools/outfile"
)

// ErrEmpty is the error for an input of no bytes at all: archive/tar would
// read it as an archive without entries, GNU tar rejects it. (An archive
// of just the two zero end blocks is valid and normalizes to itself.)
var ErrEmpty = errors.New("empty input, not a tar")

// NormalizeOptions configure Normalize.
type NormalizeOptions struct {
	// ModTime is the mtime of every entry, in seconds since the Unix epoch.
	ModTime int64
	// Exclude lists path.Match patterns, as WriteOptions.Exclude.
	Exclude []string
	// Strict makes a name that occurs more than once an error instead of
	// "the last occurrence wins".
	Strict bool
	// TempDir is where file data is spooled when the input is not a
	// regular file; "" means os.TempDir(). It has no influence on the
	// output.
	TempDir string
}

// Normalize reads one tar archive from src into a tree and writes the
// tree's normal form (see Tree.Write) to dst with every mtime set to
// opt.ModTime: two archives with the same files give the same bytes. All of
// src is read and checked before the first byte is written, so an invalid
// input produces no output.
//
// The archive is read like a layer (see ApplyLayer: the same checks, a
// later entry replaces an earlier one of the same name, a hard link to a
// name replaced later keeps the old file, missing parents are added as
// 0755 root:root directories), except that ".wh." names are kept as
// ordinary names and a root entry ("./") is kept and written. PAX global
// headers are ignored and sparse entries expanded. Excluded names are
// left out when writing, so a hard link whose first name is excluded
// carries the data itself.
//
// Memory does not grow with the size of the files: when src is a regular
// file, data is read back from it when writing (it must not change
// meanwhile); otherwise data is spooled to an unlinked file in
// opt.TempDir.
func Normalize(dst io.Writer, src io.Reader, opt NormalizeOptions) error {
	if _, err := cleanPatterns(opt.Exclude); err != nil {
		return err
	}
	t, err := New(opt.TempDir)
	if err != nil {
		return err
	}
	defer t.Close()
	t.strict = opt.Strict
	if f, ok := src.(*os.File); ok {
		t.useDirect(f)
	}
	n, err := readArchive(src, func(h *tar.Header, data io.Reader, dataOff int64) error {
		return t.applyEntry(h, data, dataOff, false)
	})
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("rootfs: %w", ErrEmpty)
	}
	_, err = t.Write(dst, WriteOptions{ModTime: &opt.ModTime, Exclude: opt.Exclude})
	return err
}

// useDirect makes data be read back from f when it is a regular file.
func (t *Tree) useDirect(f *os.File) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return
	}
	base, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return
	}
	t.direct, t.directBase, t.directEnd = f, base, st.Size()
}

// NormalizeFile normalizes the archive at input into output; "-" means
// standard input or output. A file output appears only when complete: on
// any error nothing is left at output.
func NormalizeFile(output, input string, opt NormalizeOptions) error {
	var src io.Reader = os.Stdin
	if input != "-" {
		f, err := os.Open(input)
		if err != nil {
			return fmt.Errorf("rootfs: %w", err)
		}
		defer f.Close()
		src = f
	}
	if output == "-" {
		bw := bufio.NewWriterSize(os.Stdout, ioBuf)
		if err := Normalize(bw, src, opt); err != nil {
			return err
		}
		if err := bw.Flush(); err != nil {
			return fmt.Errorf("rootfs: writing standard output: %w", err)
		}
		return nil
	}
	out, err := outfile.Create(output, 0o644)
	if err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	defer out.Abort()
	bw := bufio.NewWriterSize(out, ioBuf)
	if err := Normalize(bw, src, opt); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("rootfs: %s: %w", output, err)
	}
	if err := out.Commit(); err != nil {
		return fmt.Errorf("rootfs: %w", err)
	}
	return nil
}
