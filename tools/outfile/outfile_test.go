package outfile

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestCommitAndAbort(t *testing.T) {
	tests := []struct {
		name      string
		commit    bool
		wantExist bool
	}{
		{"commit", true, true},
		{"abort", false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			dest := filepath.Join(dir, "out.img")
			f, err := Create(dest, 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Abort()
			if _, err := f.Write([]byte("data")); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("destination visible before commit: %v", err)
			}
			if tc.commit {
				if err := f.Commit(); err != nil {
					t.Fatal(err)
				}
			} else {
				f.Abort()
			}
			st, err := os.Stat(dest)
			if tc.wantExist != (err == nil) {
				t.Fatalf("exists=%v, want %v", err == nil, tc.wantExist)
			}
			if tc.wantExist && st.Mode().Perm() != 0o644 {
				t.Fatalf("mode %v, want 0644", st.Mode().Perm())
			}
			ents, _ := os.ReadDir(dir)
			if want := map[bool]int{true: 1, false: 0}[tc.wantExist]; len(ents) != want {
				t.Fatalf("%d files left in dir, want %d", len(ents), want)
			}
		})
	}
}

// restart undoes RemoveTemps, so later tests can create temporaries again.
func restart() {
	live.Lock()
	live.stopped = false
	live.Unlock()
}

// names lists the entries of dir.
func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range ents {
		ns = append(ns, e.Name())
	}
	return ns
}

func TestRemoveTemps(t *testing.T) {
	defer restart()
	dir := t.TempDir()
	scratchParent := t.TempDir()
	done, err := Create(filepath.Join(dir, "done.img"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := done.Commit(); err != nil {
		t.Fatal(err)
	}
	var files []*File
	for _, n := range []string{"a.img", "b.img", "a.img"} {
		f, err := Create(filepath.Join(dir, n), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Abort()
		f.WriteString("data")
		files = append(files, f)
	}
	d, err := CreateDir(filepath.Join(dir, "layout"), 0o755)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Abort()
	os.WriteFile(filepath.Join(d.Name(), "blob"), []byte("x"), 0o444)
	scratch, err := MkdirTemp(scratchParent, "scratch-")
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Abort()
	os.Mkdir(filepath.Join(scratch.Name(), "sub"), 0o755)

	RemoveTemps()
	if got := names(t, dir); len(got) != 1 || got[0] != "done.img" {
		t.Errorf("after RemoveTemps %s holds %q, want only done.img", dir, got)
	}
	if got := names(t, scratchParent); len(got) != 0 {
		t.Errorf("after RemoveTemps %s holds %q, want nothing", scratchParent, got)
	}
	// Nothing new appears before the process exits.
	if err := files[0].Commit(); err == nil {
		t.Error("Commit after RemoveTemps succeeded")
	}
	if err := d.Commit(); err == nil {
		t.Error("Dir.Commit after RemoveTemps succeeded")
	}
	if f, err := Create(filepath.Join(dir, "c.img"), 0o644); err == nil {
		f.Abort()
		t.Error("Create after RemoveTemps succeeded")
	}
	if got := names(t, dir); len(got) != 1 {
		t.Errorf("after the failed calls %s holds %q, want only done.img", dir, got)
	}
}

// TestRemoveTempsDuringCommit runs RemoveTemps concurrently with Commits: a
// Commit that succeeds must leave a complete destination, one that fails
// must leave nothing.
func TestRemoveTempsDuringCommit(t *testing.T) {
	defer restart()
	for i := range 20 {
		restart()
		dir := t.TempDir()
		f, err := Create(filepath.Join(dir, "out.img"), 0o644)
		if err != nil {
			t.Fatal(err)
		}
		f.WriteString("data")
		d, err := CreateDir(filepath.Join(dir, "layout"), 0o755)
		if err != nil {
			t.Fatal(err)
		}
		for j := range 20 {
			os.WriteFile(filepath.Join(d.Name(), fmt.Sprint(j)), []byte("x"), 0o644)
		}
		errF, errD := make(chan error, 1), make(chan error, 1)
		go func() { errF <- f.Commit() }()
		go func() { errD <- d.Commit() }()
		RemoveTemps()
		want := map[string]bool{"out.img": <-errF == nil, "layout": <-errD == nil}
		got := names(t, dir)
		for n, committed := range want {
			if committed && !slices.Contains(got, n) {
				t.Fatalf("round %d: %s committed but missing", i, n)
			}
		}
		for _, n := range got {
			switch n {
			case "out.img":
				if b, _ := os.ReadFile(filepath.Join(dir, n)); string(b) != "data" {
					t.Fatalf("round %d: out.img holds %q", i, b)
				}
			case "layout":
				if ents := names(t, filepath.Join(dir, n)); len(ents) != 20 {
					t.Fatalf("round %d: layout holds %d files, want 20", i, len(ents))
				}
			default:
				t.Fatalf("round %d: %s left behind", i, n)
			}
		}
	}
}

func TestRemoveStale(t *testing.T) {
	tests := []struct {
		name string
		// make creates an entry in dir and returns its name and whether
		// Create of dir/out.img must remove it.
		make func(t *testing.T, dir string) (string, bool)
	}{
		{"stale file", func(t *testing.T, dir string) (string, bool) {
			os.WriteFile(filepath.Join(dir, ".out.img.tmp-123"), []byte("partial"), 0o600)
			return ".out.img.tmp-123", true
		}},
		{"stale dir", func(t *testing.T, dir string) (string, bool) {
			p := filepath.Join(dir, ".out.img.tmp-4567")
			os.MkdirAll(filepath.Join(p, "blobs"), 0o755)
			os.WriteFile(filepath.Join(p, "blobs", "x"), []byte("x"), 0o444)
			return ".out.img.tmp-4567", true
		}},
		{"writer in this process", func(t *testing.T, dir string) (string, bool) {
			f, err := Create(filepath.Join(dir, "out.img"), 0o644)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(f.Abort)
			return filepath.Base(f.Name()), false
		}},
		{"locked by another writer", func(t *testing.T, dir string) (string, bool) {
			// Another process's writer: a locked file this process did not
			// register (flock locks conflict between open files, as between
			// processes).
			p := filepath.Join(dir, ".out.img.tmp-99")
			f, err := os.Create(p)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { f.Close() })
			if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
				t.Fatal(err)
			}
			return ".out.img.tmp-99", false
		}},
		{"other destination", func(t *testing.T, dir string) (string, bool) {
			os.WriteFile(filepath.Join(dir, ".out.img.tmp-1.tmp-2"), nil, 0o600)
			return ".out.img.tmp-1.tmp-2", false
		}},
		{"not a temporary name", func(t *testing.T, dir string) (string, bool) {
			os.WriteFile(filepath.Join(dir, ".out.img.tmp-12x"), nil, 0o600)
			return ".out.img.tmp-12x", false
		}},
		{"symlink", func(t *testing.T, dir string) (string, bool) {
			target := filepath.Join(t.TempDir(), "target")
			os.WriteFile(target, nil, 0o600)
			os.Symlink(target, filepath.Join(dir, ".out.img.tmp-7"))
			return ".out.img.tmp-7", false
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			name, removed := tc.make(t, dir)
			f, err := Create(filepath.Join(dir, "out.img"), 0o644)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Abort()
			_, err = os.Lstat(filepath.Join(dir, name))
			if gone := errors.Is(err, os.ErrNotExist); gone != removed {
				t.Fatalf("%s removed = %v, want %v", name, gone, removed)
			}
			if err := f.Commit(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestMain lets the test binary act as a writer process for
// TestConcurrentWriters.
func TestMain(m *testing.M) {
	if dest := os.Getenv("OUTFILE_TEST_WRITER"); dest != "" {
		for range 50 {
			f, err := Create(dest, 0o644)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			f.WriteString("data")
			if err := f.Commit(); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestConcurrentWriters runs processes that write one destination at the
// same time, each sweeping the directory as it creates: none may remove a
// temporary another is writing, so every write commits.
func TestConcurrentWriters(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "out.img")
	var cmds []*exec.Cmd
	for range 4 {
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(os.Environ(), "OUTFILE_TEST_WRITER="+dest)
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, cmd)
	}
	for _, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("writer: %v", err)
		}
	}
	if got := names(t, filepath.Dir(dest)); len(got) != 1 {
		t.Errorf("left %q, want only out.img", got)
	}
}
