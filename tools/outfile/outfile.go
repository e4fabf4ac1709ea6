// Package outfile writes an output file atomically: the data goes to a
// temporary file in the destination's directory, which is renamed over the
// destination only when the caller commits. An aborted or failed write leaves
// nothing behind, so a build never sees a half-written image.
package outfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is an output being written. It embeds the temporary *os.File, so it
// can be used as an io.Writer, io.WriterAt or io.Seeker.
type File struct {
	*os.File
	dest string
	mode os.FileMode
	done bool
}

// Create starts writing dest. The file is created with mode perm (before
// umask is ignored: the final mode is set explicitly so outputs do not depend
// on the caller's umask).
func Create(dest string, perm os.FileMode) (*File, error) {
	dir := filepath.Dir(dest)
	f, err := os.CreateTemp(dir, "."+filepath.Base(dest)+".tmp-*")
	if err != nil {
		return nil, fmt.Errorf("outfile: %s: %w", dest, err)
	}
	return &File{File: f, dest: dest, mode: perm}, nil
}

// Commit flushes the file to disk, sets its mode and renames it to the
// destination. After Commit, Abort is a no-op.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("outfile: %s: already closed", f.dest)
	}
	f.done = true
	name := f.File.Name()
	if err := f.File.Sync(); err != nil {
		f.File.Close()
		os.Remove(name)
		return fmt.Errorf("outfile: %s: %w", f.dest, err)
	}
	if err := f.File.Chmod(f.mode); err != nil {
		f.File.Close()
		os.Remove(name)
		return fmt.Errorf("outfile: %s: %w", f.dest, err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(name)
		return fmt.Errorf("outfile: %s: %w", f.dest, err)
	}
	if err := os.Rename(name, f.dest); err != nil {
		os.Remove(name)
		return fmt.Errorf("outfile: %s: %w", f.dest, err)
	}
	return nil
}

// Abort removes the temporary file. It is safe to defer Abort right after
// Create: once Commit has run it does nothing.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	name := f.File.Name()
	f.File.Close()
	os.Remove(name)
}
