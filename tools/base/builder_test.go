package base

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func validBuilderLock() *BuilderLock {
	return &BuilderLock{
		Format:    BuilderLockFormat,
		Debian:    Debian{Suite: "bookworm", Suites: []string{"bookworm"}, Components: []string{"main"}, Architecture: "amd64", Variant: "apt"},
		Requested: []string{"mmdebstrap"},
		Packages: []Package{
			{Name: "apt", Version: "2.6.2", Architecture: "amd64", SHA256: strings.Repeat("3", 64)},
			{Name: "dpkg", Version: "1.21.23", Architecture: "amd64", SHA256: strings.Repeat("4", 64)},
			{Name: "mmdebstrap", Version: "1.3.5-7", Architecture: "all", SHA256: strings.Repeat("5", 64)},
		},
	}
}

func TestBuilderLockRoundTripAndID(t *testing.T) {
	name := filepath.Join(t.TempDir(), "builder.lock.json")
	b := validBuilderLock()
	if err := WriteBuilderLock(name, b); err != nil {
		t.Fatal(err)
	}
	r, err := ReadBuilderLock(name)
	if err != nil {
		t.Fatal(err)
	}
	if r.ID() != b.ID() || !strings.HasPrefix(r.ID(), "sha256:") || len(r.ID()) != 71 {
		t.Fatalf("ID %s after round trip, want %s", r.ID(), b.ID())
	}
	ref := r.Ref()
	if ref.Tools["apt"] != "2.6.2" || ref.Tools["dpkg"] != "1.21.23" || ref.Tools["mmdebstrap"] != "1.3.5-7" || len(ref.Tools) != 3 {
		t.Fatalf("tools %v", ref.Tools)
	}
	// The ID changes with every package field and the source, not with
	// the requested list.
	edits := map[string]func(*BuilderLock){
		"version":  func(b *BuilderLock) { b.Packages[0].Version = "2.6.3" },
		"checksum": func(b *BuilderLock) { b.Packages[1].SHA256 = strings.Repeat("6", 64) },
		"arch":     func(b *BuilderLock) { b.Packages[2].Architecture = "amd64" },
		"suite":    func(b *BuilderLock) { b.Debian.Suites = []string{"bookworm", "bookworm-security"} },
	}
	for what, edit := range edits {
		c := validBuilderLock()
		edit(c)
		if c.ID() == b.ID() {
			t.Errorf("%s: ID unchanged", what)
		}
	}
	c := validBuilderLock()
	c.Requested = []string{"apt", "mmdebstrap"}
	if c.ID() != b.ID() {
		t.Error("requested list changed the ID")
	}
}

func TestBuilderLockErrors(t *testing.T) {
	tests := []struct {
		name    string
		edit    func(*BuilderLock)
		wantErr string
	}{
		{"format", func(b *BuilderLock) { b.Format = 7 }, "format 7"},
		{"no dpkg", func(b *BuilderLock) { b.Packages = append(b.Packages[:1], b.Packages[2]) }, "no dpkg"},
		{"bad sha", func(b *BuilderLock) { b.Packages[0].SHA256 = "x" }, `packages[0] apt: sha256 "x"`},
		{"requested missing", func(b *BuilderLock) { b.Requested = []string{"gpg"} }, "requested package gpg"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := validBuilderLock()
			tc.edit(b)
			name := filepath.Join(t.TempDir(), "builder.lock.json")
			err := WriteBuilderLock(name, b)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want %q", err, tc.wantErr)
			}
			if _, err := os.Stat(name); !os.IsNotExist(err) {
				t.Fatal("invalid builder lock written")
			}
		})
	}
}

func TestCheckBuilder(t *testing.T) {
	b := validBuilderLock()
	l := validLock()
	if err := CheckBuilder(l, "L", b, "B"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		edit func(*BuilderLock)
		want string
	}{
		{"tool version", func(b *BuilderLock) { b.Packages[0].Version = "2.6.3" }, "apt 2.6.2 -> 2.6.3"},
		{"other package", func(b *BuilderLock) { b.Packages[2].SHA256 = strings.Repeat("9", 64) }, "other packages of the builder differ"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := validBuilderLock()
			tc.edit(c)
			err := CheckBuilder(l, "L", c, "B")
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), l.Builder.ID) || !strings.Contains(err.Error(), c.ID()) {
				t.Fatalf("err = %v, want %q and both IDs", err, tc.want)
			}
		})
	}
}

func TestFindBuilderLock(t *testing.T) {
	ws := t.TempDir()
	lock := filepath.Join(ws, BuilderLockPath)
	ctx := filepath.Join(ws, "ic-os", "guestos", "context")
	if err := os.MkdirAll(ctx, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := FindBuilderLock(ctx); err == nil {
		t.Fatal("found a builder lock that does not exist")
	}
	writeFile(t, lock, "{}")
	got, err := FindBuilderLock(ctx)
	if err != nil || got != lock {
		t.Fatalf("FindBuilderLock = %q, %v; want %q", got, err, lock)
	}
}

func TestPhaseWriter(t *testing.T) {
	var out bytes.Buffer
	p := &phaseWriter{w: &out, start: time.Now()}
	in := "I: running apt-get update...\nGet:1 http://mirror bookworm InRelease\r\nSelecting previously unselected package x.\n" +
		"W: a warning\nE: the end"
	for _, chunk := range []string{in[:7], in[7:40], in[40:]} {
		p.Write([]byte(chunk))
	}
	p.Flush()
	want := "icos: [   0s] I: running apt-get update...\nicos: [   0s] W: a warning\nicos: [   0s] E: the end\n"
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}
