package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEmptyTarInput: a 0-byte input (a file or standard input) is not a
// tar. GNU tar rejects it; the commands reading tars name the input and
// write nothing, instead of making an empty image. An archive of just the
// two zero end blocks stays valid.
func TestEmptyTarInput(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.tar")
	zeros := filepath.Join(dir, "zeros.tar")
	os.WriteFile(empty, nil, 0o644)
	os.WriteFile(zeros, make([]byte, 1024), 0o644)
	out := filepath.Join(dir, "out", "img")
	os.Mkdir(filepath.Dir(out), 0o755)
	for _, tc := range []struct {
		name  string
		args  []string
		stdin bool // give the input as "-", an empty pipe
	}{
		{"ext4", []string{"ext4", "--size", "8M", "--output", out, "--input"}, false},
		{"ext4 stdin", []string{"ext4", "--size", "8M", "--output", out, "--input"}, true},
		{"vfat", []string{"vfat", "--size", "1M", "--output", out, "--input"}, false},
		{"vfat stdin", []string{"vfat", "--size", "1M", "--output", out, "--input"}, true},
		{"tar normalize", []string{"tar", "normalize", "-o", out, "-i"}, false},
		{"tar normalize stdin", []string{"tar", "normalize", "-o", out, "-i"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, want := empty, empty+": empty input, not a tar"
			if tc.stdin {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				w.Close()
				defer r.Close()
				old := os.Stdin
				os.Stdin = r
				defer func() { os.Stdin = old }()
				in, want = "-", "standard input: empty input, not a tar"
			}
			err := newApp().Run(append(append([]string{"icos"}, tc.args...), in))
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("err = %v, want it to contain %q", err, want)
			}
			if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
				t.Errorf("left files behind: %v", ents)
			}
			if tc.stdin {
				return
			}
			if err := newApp().Run(append(append([]string{"icos"}, tc.args...), zeros)); err != nil {
				t.Errorf("tar of two zero blocks: %v", err)
			}
			os.Remove(out)
		})
	}
}
