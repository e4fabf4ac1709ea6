// Package outfile writes an output file atomically: the data goes to a
// temporary file in the destination's directory, which is renamed over the
// destination only when the caller commits. An aborted or failed write leaves
// nothing behind, so a build never sees a half-written image.
//
// Temporaries are also cleaned up when the process cannot run its deferred
// Aborts: every live temporary is registered, and RemoveTemps (called from a
// signal handler just before exiting) removes them all. A run killed outright
// (SIGKILL, power loss) leaves its temporary, named ".<dest>.tmp-<digits>";
// the next Create of the same destination removes it. A writer holds an
// exclusive flock on its temporary until Commit or Abort, and only temporaries
// whose lock can be taken are removed, so concurrent writers of one
// destination never delete each other's files.
package outfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// live is the registry of this process's temporary files and directories.
var live = struct {
	sync.Mutex
	paths   map[string]bool // temporary path → is a directory
	stopped bool            // set by RemoveTemps: no new temporaries, no renames
}{paths: map[string]bool{}}

// errStopped is returned by Create and Commit once RemoveTemps has run.
var errStopped = errors.New("process is exiting: temporary outputs were removed")

// RemoveTemps removes every temporary file and directory this process has
// open through Create, CreateDir or MkdirTemp, and makes later Creates and
// Commits fail, so nothing new appears before the process exits. It is meant
// for a signal handler that exits right after it. A Commit that is renaming
// when RemoveTemps is called finishes first: its destination is kept.
func RemoveTemps() {
	live.Lock()
	defer live.Unlock()
	live.stopped = true
	for p, dir := range live.paths {
		if dir {
			os.RemoveAll(p)
		} else {
			os.Remove(p)
		}
		delete(live.paths, p)
	}
}

// register creates a temporary with mk and records it, both under the
// registry lock, so RemoveTemps never misses one being created.
func register(dir bool, mk func() (string, error)) (string, error) {
	live.Lock()
	defer live.Unlock()
	if live.stopped {
		return "", errStopped
	}
	p, err := mk()
	if err != nil {
		return "", err
	}
	live.paths[p] = dir
	return p, nil
}

// forget drops a temporary from the registry once it is removed.
func forget(p string) {
	live.Lock()
	delete(live.paths, p)
	live.Unlock()
}

// rename renames the temporary tmp to dest and forgets it, under the
// registry lock: RemoveTemps runs wholly before or after it, so it never
// removes a temporary halfway through becoming a destination.
func rename(tmp, dest string) error {
	live.Lock()
	defer live.Unlock()
	if live.stopped {
		return errStopped
	}
	if err := os.Rename(tmp, dest); err != nil {
		return err
	}
	delete(live.paths, tmp)
	return nil
}

// tempPrefix is the start of the names of dest's temporaries; os.CreateTemp
// and os.MkdirTemp complete it with decimal digits.
func tempPrefix(dest string) string { return "." + filepath.Base(dest) + ".tmp-" }

// isTemp reports whether name (a base name) is a temporary of the
// destination whose tempPrefix is prefix.
func isTemp(name, prefix string) bool {
	rest, ok := strings.CutPrefix(name, prefix)
	if !ok || rest == "" {
		return false
	}
	for _, c := range rest {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// removeStale removes the temporaries of dest that no live writer holds:
// those left by a killed run. A temporary is removed only while this
// process holds its lock and only if its name still refers to the locked
// file. Errors are ignored: a temporary that cannot be examined is kept.
func removeStale(dest string) {
	dir, prefix := filepath.Dir(dest), tempPrefix(dest)
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	for _, n := range names {
		if !isTemp(n, prefix) {
			continue
		}
		p := filepath.Join(dir, n)
		live.Lock()
		_, ours := live.paths[p]
		live.Unlock()
		if ours { // held by this process (also where flock is per process, e.g. NFS)
			continue
		}
		removeIfUnlocked(p)
	}
}

func removeIfUnlocked(p string) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !(st.Mode().IsRegular() || st.IsDir()) {
		return
	}
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return // a live writer holds it, or locks are unsupported here
	}
	if now, err := os.Lstat(p); err != nil || !os.SameFile(st, now) {
		return
	}
	if st.IsDir() {
		os.RemoveAll(p)
	} else {
		os.Remove(p)
	}
}

// lockOwn takes the exclusive lock of a temporary just created at path p
// and open as f. It reports false if a concurrent removeStale took the
// temporary first (it was created unlocked, so it looked stale): the caller
// then makes another. Where flock is not supported, the temporary is used
// unlocked.
func lockOwn(f *os.File, p string) (bool, error) {
	switch err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); {
	case errors.Is(err, syscall.EWOULDBLOCK):
		return false, nil
	case err != nil:
		return true, nil
	}
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	now, err := os.Lstat(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return err == nil && os.SameFile(st, now), nil
}

// maxTries bounds the attempts at a temporary lost to concurrent removeStale
// calls; each loss needs another writer of the same destination sweeping in
// the instant between a creation and its lock.
const maxTries = 100

// createLocked makes a temporary with mk, which registers it and returns
// its path and a descriptor to lock, and locks it, retrying while concurrent
// sweeps take new temporaries.
func createLocked(mk func() (*os.File, string, error)) (*os.File, string, error) {
	for range maxTries {
		f, p, err := mk()
		if err != nil {
			return nil, "", err
		}
		ok, err := lockOwn(f, p)
		if ok {
			return f, p, nil
		}
		f.Close()
		if err != nil {
			os.RemoveAll(p)
			forget(p)
			return nil, "", err
		}
		// Lost to a sweep, which removes (or removed) the path.
		forget(p)
	}
	return nil, "", errors.New("temporary files keep being removed by concurrent writers")
}

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
// on the caller's umask). Temporaries of dest left by killed runs are removed
// first.
func Create(dest string, perm os.FileMode) (*File, error) {
	removeStale(dest)
	f, _, err := createLocked(func() (*os.File, string, error) {
		var f *os.File
		p, err := register(false, func() (string, error) {
			var err error
			f, err = os.CreateTemp(filepath.Dir(dest), tempPrefix(dest)+"*")
			if err != nil {
				return "", err
			}
			return f.Name(), nil
		})
		return f, p, err
	})
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
	fail := func(err error) error {
		f.File.Close()
		os.Remove(name)
		forget(name)
		return fmt.Errorf("outfile: %s: %w", f.dest, err)
	}
	if err := f.File.Sync(); err != nil {
		return fail(err)
	}
	if err := f.File.Chmod(f.mode); err != nil {
		return fail(err)
	}
	// Renamed while still open: closing releases the lock, and a concurrent
	// Create could then remove the temporary as stale before the rename.
	if err := rename(name, f.dest); err != nil {
		return fail(err)
	}
	if err := f.File.Close(); err != nil {
		os.Remove(f.dest)
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
	os.Remove(name)
	f.File.Close()
	forget(name)
}

// Dir is a temporary directory: the output directory being written by
// CreateDir, or a scratch directory made by MkdirTemp. Like a File's
// temporary, it is removed by RemoveTemps.
type Dir struct {
	name string
	dest string      // "" for MkdirTemp
	mode os.FileMode // of dest
	lock *os.File    // open directory holding the flock (CreateDir)
	done bool
}

// CreateDir starts writing the directory dest: a temporary directory beside
// it, which Commit renames to dest with mode perm. Temporaries of dest left
// by killed runs are removed first.
func CreateDir(dest string, perm os.FileMode) (*Dir, error) {
	removeStale(dest)
	f, p, err := createLocked(func() (*os.File, string, error) {
		p, err := register(true, func() (string, error) {
			return os.MkdirTemp(filepath.Dir(dest), tempPrefix(dest)+"*")
		})
		if err != nil {
			return nil, "", err
		}
		f, err := os.Open(p)
		if err != nil {
			os.Remove(p)
			forget(p)
			return nil, "", err
		}
		return f, p, nil
	})
	if err != nil {
		return nil, fmt.Errorf("outfile: %s: %w", dest, err)
	}
	return &Dir{name: p, dest: dest, mode: perm, lock: f}, nil
}

// MkdirTemp makes a scratch directory like os.MkdirTemp (in dir, or the
// system default if dir is ""). Remove it with Abort; RemoveTemps removes it
// too.
func MkdirTemp(dir, pattern string) (*Dir, error) {
	p, err := register(true, func() (string, error) { return os.MkdirTemp(dir, pattern) })
	if err != nil {
		return nil, fmt.Errorf("outfile: %w", err)
	}
	return &Dir{name: p}, nil
}

// Name returns the path of the temporary directory.
func (d *Dir) Name() string { return d.name }

// Commit sets the directory's mode and renames it to the destination given
// to CreateDir. After Commit, Abort is a no-op.
func (d *Dir) Commit() error {
	if d.dest == "" {
		return fmt.Errorf("outfile: %s: a scratch directory has no destination", d.name)
	}
	if d.done {
		return fmt.Errorf("outfile: %s: already closed", d.dest)
	}
	d.done = true
	defer d.lock.Close()
	err := os.Chmod(d.name, d.mode)
	if err == nil {
		err = rename(d.name, d.dest)
	}
	if err != nil {
		os.RemoveAll(d.name)
		forget(d.name)
		return fmt.Errorf("outfile: %s: %w", d.dest, err)
	}
	return nil
}

// Abort removes the directory and everything in it. It is safe to defer
// Abort right after CreateDir or MkdirTemp: once Commit has run it does
// nothing.
func (d *Dir) Abort() {
	if d.done {
		return
	}
	d.done = true
	os.RemoveAll(d.name)
	if d.lock != nil {
		d.lock.Close()
	}
	forget(d.name)
}
