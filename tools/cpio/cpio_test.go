package cpio

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// entry is one entry of a test archive.
type entry struct {
	name, kind string // kind: dir, file, link
	perm       fs.FileMode
	data       string // file contents or link target
}

var sample = []entry{
	{"etc", "dir", 0o755, ""},
	{"etc/empty", "file", 0o644, ""},
	{"etc/one", "file", 0o600, "1"},
	{"etc/two", "file", 0o644, "22"},
	{"etc/three", "file", 0o644, "333"},
	{"etc/four", "file", 0o644, "4444"},
	{"etc/five", "file", 0o4755, "55555"},
	{"scripts", "dir", 0o700, ""},
	{"scripts/local-top", "dir", 0o755, ""},
	{"scripts/local-top/ORDER", "file", 0o755, "/scripts/local-top/x \"$@\"\n"},
	{"scripts/link", "link", 0, "local-top/ORDER"},
	{"abc", "link", 0, "/etc/nowhere"},
}

func build(t *testing.T, entries []entry, modTime int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Options{ModTime: modTime})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.kind {
		case "dir":
			err = w.Dir(e.name, e.perm)
		case "file":
			err = w.File(e.name, e.perm, []byte(e.data))
		case "link":
			err = w.Symlink(e.name, e.data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterministic(t *testing.T) {
	a, b := build(t, sample, 1700000000), build(t, sample, 1700000000)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs differ")
	}
	if c := build(t, sample, 1); bytes.Equal(a, c) {
		t.Fatal("the modification time does not reach the archive")
	}
	if len(a)%4 != 0 {
		t.Fatalf("archive of %d bytes, not a multiple of 4", len(a))
	}
}

// TestHeaders checks the first header and the trailer field by field.
func TestHeaders(t *testing.T) {
	a := build(t, sample[:2], 0x1234)
	want := Magic + "00000001" + "000041ED" + "00000000" + "00000000" + "00000002" + "00001234" + "00000000" +
		"00000000" + "00000000" + "00000000" + "00000000" + "00000004" + "00000000" + "etc\x00"
	if got := string(a[:len(want)]); got != want {
		t.Fatalf("first header\n got %q\nwant %q", got, want)
	}
	// The header of etc/empty follows at 116 (110 + 4 bytes of name, padded to 4).
	if !bytes.HasPrefix(a[116:], []byte(Magic+"00000002")) || !bytes.Equal(a[114:116], []byte{0, 0}) {
		t.Fatalf("second header not at the padded offset: %q", a[112:116+14])
	}
	tr := Magic + strings.Repeat("0", 32) + "00000001" + strings.Repeat("0", 48) + "0000000B" + "00000000" + "TRAILER!!!\x00\x00\x00\x00"
	if !strings.HasSuffix(string(a), tr) {
		t.Fatalf("trailer: archive ends %q", a[len(a)-len(tr):])
	}
}

// TestGNUCpio lists and extracts the archive with GNU cpio and compares
// what it finds with the entries.
func TestGNUCpio(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		t.Skip("GNU cpio not installed")
	}
	a := build(t, sample, 1700000000)
	list := exec.Command("cpio", "-it", "--quiet")
	list.Stdin = bytes.NewReader(a)
	out, err := list.Output()
	if err != nil {
		t.Fatalf("cpio -t: %v", err)
	}
	var names []string
	for _, e := range sample {
		names = append(names, e.name)
	}
	if got, want := strings.Fields(string(out)), names; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("cpio -t lists %q, want %q", got, want)
	}
	verbose := exec.Command("cpio", "-itv", "--quiet", "--numeric-uid-gid")
	verbose.Stdin = bytes.NewReader(a)
	vout, err := verbose.Output()
	if err != nil {
		t.Fatalf("cpio -tv: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(vout)), "\n") {
		if f := strings.Fields(line); len(f) < 4 || f[2] != "0" || f[3] != "0" {
			t.Errorf("cpio -tv: owner not 0 0: %q", line)
		}
		if !strings.Contains(line, "2023") {
			t.Errorf("cpio -tv: modification time not 2023 (1700000000): %q", line)
		}
	}

	dir := t.TempDir()
	extract := exec.Command("cpio", "-id", "--quiet", "--no-absolute-filenames", "--preserve-modification-time")
	extract.Dir = dir
	extract.Stdin = bytes.NewReader(a)
	if out, err := extract.CombinedOutput(); err != nil {
		t.Fatalf("cpio -i: %v\n%s", err, out)
	}
	for _, e := range sample {
		p := filepath.Join(dir, e.name)
		st, err := os.Lstat(p)
		if err != nil {
			t.Errorf("%s: %v", e.name, err)
			continue
		}
		switch e.kind {
		case "dir":
			if !st.IsDir() || st.Mode().Perm() != e.perm {
				t.Errorf("%s: mode %v, want directory %v", e.name, st.Mode(), e.perm)
			}
		case "file":
			got, err := os.ReadFile(p)
			if err != nil || string(got) != e.data {
				t.Errorf("%s: contents %q (%v), want %q", e.name, got, err, e.data)
			}
			if want := e.perm & 0o777; st.Mode().Perm() != want || (e.perm&0o4000 != 0) != (st.Mode()&fs.ModeSetuid != 0) {
				t.Errorf("%s: mode %v, want %v", e.name, st.Mode(), e.perm)
			}
			if st.ModTime().Unix() != 1700000000 {
				t.Errorf("%s: mtime %d", e.name, st.ModTime().Unix())
			}
		case "link":
			if got, err := os.Readlink(p); err != nil || got != e.data {
				t.Errorf("%s: link to %q (%v), want %q", e.name, got, err, e.data)
			}
		}
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries []entry
		want    string
	}{
		{"no parent", []entry{{"a/b", "file", 0o644, ""}}, "parent directory a not written"},
		{"parent is a file", []entry{{"a", "file", 0o644, ""}, {"a/b", "file", 0o644, ""}}, "parent directory a not written"},
		{"twice", []entry{{"a", "dir", 0o755, ""}, {"a", "dir", 0o755, ""}}, "written twice"},
		{"absolute", []entry{{"/a", "dir", 0o755, ""}}, "invalid name"},
		{"dot", []entry{{".", "dir", 0o755, ""}}, "invalid name"},
		{"dotdot", []entry{{"a", "dir", 0o755, ""}, {"a/../b", "dir", 0o755, ""}}, "invalid name"},
		{"trailing slash", []entry{{"a/", "dir", 0o755, ""}}, "invalid name"},
		{"trailer name", []entry{{"TRAILER!!!", "file", 0o644, ""}}, "invalid name"},
		{"type bits", []entry{{"a", "dir", fs.ModeDir | 0o755, ""}}, "more than permission bits"},
		{"empty target", []entry{{"a", "link", 0, ""}}, "invalid symlink target"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, _ := NewWriter(&bytes.Buffer{}, Options{})
			var err error
			for _, e := range tc.entries {
				switch e.kind {
				case "dir":
					err = w.Dir(e.name, e.perm)
				case "file":
					err = w.File(e.name, e.perm, []byte(e.data))
				case "link":
					err = w.Symlink(e.name, e.data)
				}
				if err != nil {
					break
				}
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "cpio: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
	if _, err := NewWriter(&bytes.Buffer{}, Options{ModTime: -1}); err == nil {
		t.Error("negative modification time accepted")
	}
	w, _ := NewWriter(&bytes.Buffer{}, Options{})
	w.Close()
	if err := w.Dir("a", 0o755); err == nil {
		t.Error("write after Close accepted")
	}
	fw, _ := NewWriter(failWriter{}, Options{})
	if err := fw.Dir("a", 0o755); err == nil || fw.Close() == nil {
		t.Error("write error not reported, or not kept")
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }
