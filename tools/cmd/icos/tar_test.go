package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeTestTar(t *testing.T, path string, names ...string) {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: n, Mode: 0o644, Size: int64(len(n)),
			ModTime: time.Unix(1e9, 0), Uname: "user"}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, n)
	}
	tw.Close()
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestTarNormalizeCommand(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.tar")
	writeTestTar(t, in, "run/x", "etc/b", "a,b", "etc/a", "run/y/z")
	dup := filepath.Join(dir, "dup.tar")
	writeTestTar(t, dup, "etc/a", "./etc/a")
	bad := filepath.Join(dir, "bad.tar")
	writeTestTar(t, bad, "ok", "../escape")
	out := filepath.Join(dir, "out", "out.tar")
	os.Mkdir(filepath.Dir(out), 0o755)
	tests := []struct {
		name      string
		args      []string
		wantErr   string
		wantNames string
	}{
		{"ok", []string{"-i", in, "-o", out, "--mtime", "86400", "--exclude", "run/*", "--exclude", "a,b"}, "", "etc/ etc/a etc/b run/"},
		{"long flags", []string{"--input", in, "--output", out, "--exclude", "/run", "--exclude", "etc/a"}, "", "a,b etc/ etc/b"},
		{"dup ok", []string{"-i", dup, "-o", out}, "", "etc/ etc/a"},
		{"strict", []string{"-i", dup, "-o", out, "--strict"}, `duplicate path "etc/a"`, ""},
		{"hostile", []string{"-i", bad, "-o", out}, `entry "../escape"`, ""},
		{"bad glob", []string{"-i", in, "-o", out, "--exclude", "[x"}, "bad exclude pattern", ""},
		{"missing input", []string{"-i", filepath.Join(dir, "nope"), "-o", out}, "nope", ""},
		{"stray argument", []string{"-i", in, "-o", out, "extra"}, "unexpected arguments", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			os.Remove(out)
			err := newApp().Run(append([]string{"icos", "tar", "normalize"}, tc.args...))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
					t.Fatalf("output left behind after an error: %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			f, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			var got []string
			tr := tar.NewReader(f)
			for {
				h, err := tr.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				want := int64(0)
				if tc.name == "ok" {
					want = 86400
				}
				if h.ModTime.Unix() != want || h.Uname != "" {
					t.Errorf("%s: mtime %d uname %q", h.Name, h.ModTime.Unix(), h.Uname)
				}
				got = append(got, h.Name)
			}
			if g := strings.Join(got, " "); g != tc.wantNames {
				t.Fatalf("names %q, want %q", g, tc.wantNames)
			}
		})
	}
}

// TestTarNormalizeTwice runs the command twice on the same input: same bytes.
func TestTarNormalizeTwice(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.tar")
	writeTestTar(t, in, "b/c", "a", "b/a")
	var outs [][]byte
	for _, o := range []string{"one.tar", "two.tar"} {
		if err := newApp().Run([]string{"icos", "tar", "normalize", "-i", in, "-o", filepath.Join(dir, o)}); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, o))
		outs = append(outs, b)
	}
	if len(outs[0]) == 0 || !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two runs differ")
	}
}
