package outfile

import (
	"errors"
	"os"
	"path/filepath"
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
