package bootloader

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/base"
)

// makeDeb builds a .deb (gzip-compressed members) holding the regular
// files of data, names given without "./".
func makeDeb(t *testing.T, data map[string]string) []byte {
	t.Helper()
	targz := func(files map[string]string) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		tw := tar.NewWriter(zw)
		var names []string
		for n := range files {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if err := tw.WriteHeader(&tar.Header{Name: "./" + n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(files[n]))}); err != nil {
				t.Fatal(err)
			}
			tw.Write([]byte(files[n]))
		}
		if err := tw.Close(); err != nil {
			t.Fatal(err)
		}
		zw.Close()
		return buf.Bytes()
	}
	b := []byte("!<arch>\n")
	for _, m := range []struct {
		name string
		data []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", targz(map[string]string{"control": "Package: x\n"})}, {"data.tar.gz", targz(data)}} {
		b = append(b, fmt.Sprintf("%-16s%-12s%-6s%-6s%-8s%-10d`\n", m.name, "0", "0", "0", "100644", len(m.data))...)
		b = append(b, m.data...)
		if len(m.data)%2 == 1 {
			b = append(b, '\n')
		}
	}
	return b
}

func hexSum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// archive is a test setup: two archive roots on one HTTP server (the
// second for the security suite) and an apt root naming them.
type archive struct {
	aptRoot string
	files   map[string][]byte // URL path -> content

	mu   sync.Mutex
	gets []string // paths requested
}

func newArchive(t *testing.T) *archive {
	a := &archive{aptRoot: t.TempDir(), files: map[string][]byte{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		a.gets = append(a.gets, r.URL.Path)
		a.mu.Unlock()
		b, ok := a.files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(srv.Close)
	sources := fmt.Sprintf("Types: deb\nURIs: %[1]s/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n"+
		"Types: deb\nURIs: %[1]s/debian-security\nSuites: bookworm-security\nComponents: main\n\n"+
		"Types: deb\nURIs: %[1]s/other\nSuites: trixie\nComponents: main\n", srv.URL)
	dir := filepath.Join(a.aptRoot, "etc/apt/sources.list.d")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "debian.sources"), []byte(sources), 0o644); err != nil {
		t.Fatal(err)
	}
	return a
}

var testDebian = base.Debian{Suite: "bookworm", Suites: []string{"bookworm", "bookworm-security", "bookworm-updates"}, Components: []string{"main"}, Architecture: "amd64"}

// testLock returns a lock of two packages, shim (served by the security
// root only) and grub, with the files of the .debs given.
func testLock(a *archive, shimDeb, grubDeb []byte) *Lock {
	a.files["/debian-security/pool/main/s/shim/shim_1_amd64.deb"] = shimDeb
	a.files["/debian/pool/main/g/grub/grub_2_amd64.deb"] = grubDeb
	return &Lock{
		Format: LockFormat,
		Debian: testDebian,
		Packages: []Package{
			{"grub", "2", "amd64", hexSum(grubDeb), "pool/main/g/grub/grub_2_amd64.deb"},
			{"shim", "1", "amd64", hexSum(shimDeb), "pool/main/s/shim/shim_1_amd64.deb"},
		},
		Files: []File{
			{"EFI/BOOT/BOOTX64.EFI", "shim", "usr/lib/shim/shimx64.efi.signed", hexSum([]byte("shim"))},
			{"EFI/BOOT/grubx64.efi", "grub", "usr/lib/grub/grubx64.efi.signed", hexSum([]byte("grub"))},
			{"EFI/BOOT/mmx64.efi", "shim", "usr/lib/shim/mmx64.efi.signed", hexSum([]byte("mm"))},
		},
	}
}

func TestFetch(t *testing.T) {
	shim := map[string]string{"usr/lib/shim/shimx64.efi.signed": "shim", "usr/lib/shim/mmx64.efi.signed": "mm", "usr/share/doc/x": "doc"}
	grub := map[string]string{"usr/lib/grub/grubx64.efi.signed": "grub"}
	tests := []struct {
		name    string
		edit    func(t *testing.T, a *archive, l *Lock)
		wantErr string
	}{
		{name: "ok"},
		{name: "deb checksum", edit: func(t *testing.T, a *archive, l *Lock) {
			a.files["/debian/pool/main/g/grub/grub_2_amd64.deb"] = makeDeb(t, map[string]string{"usr/lib/grub/grubx64.efi.signed": "evil"})
		}, wantErr: "bootloader: package grub 2: .deb sha256 "},
		{name: "truncated download", edit: func(t *testing.T, a *archive, l *Lock) {
			d := a.files["/debian/pool/main/g/grub/grub_2_amd64.deb"]
			a.files["/debian/pool/main/g/grub/grub_2_amd64.deb"] = d[:len(d)-10]
		}, wantErr: "bootloader: package grub 2: .deb sha256 "},
		{name: "file checksum", edit: func(t *testing.T, a *archive, l *Lock) {
			l.Files[2].SHA256 = hexSum([]byte("other"))
		}, wantErr: "bootloader: EFI/BOOT/mmx64.efi (usr/lib/shim/mmx64.efi.signed of shim): sha256 " + hexSum([]byte("mm")) + ", the lock has " + hexSum([]byte("other"))},
		{name: "file missing from the package", edit: func(t *testing.T, a *archive, l *Lock) {
			l.Files[2].Source = "usr/lib/shim/fbx64.efi"
		}, wantErr: `package shim 1: deb: data.tar has no "usr/lib/shim/fbx64.efi" (from http://`},
		{name: "served nowhere", edit: func(t *testing.T, a *archive, l *Lock) {
			delete(a.files, "/debian-security/pool/main/s/shim/shim_1_amd64.deb")
		}, wantErr: "bootloader: package shim 1 (pool/main/s/shim/shim_1_amd64.deb) is served by no archive root of the host's apt sources:\n  http://"},
		{name: "no source for the suites", edit: func(t *testing.T, a *archive, l *Lock) {
			l.Debian.Suites = []string{"bookworm-backports"}
		}, wantErr: "bootloader: the host's apt configuration has no source for the suites bookworm-backports"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := newArchive(t)
			l := testLock(a, makeDeb(t, shim), makeDeb(t, grub))
			if tc.edit != nil {
				tc.edit(t, a, l)
			}
			out := t.TempDir()
			err := Fetch(context.Background(), l, out, Options{AptRoot: a.aptRoot})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if ents, _ := os.ReadDir(out); len(ents) != 0 {
					t.Errorf("a failed fetch left %v", ents)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{"EFI/BOOT/BOOTX64.EFI": "shim", "EFI/BOOT/grubx64.efi": "grub", "EFI/BOOT/mmx64.efi": "mm"}
			var got []string
			filepath.Walk(out, func(p string, fi os.FileInfo, err error) error {
				if err != nil || fi.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(out, p)
				got = append(got, rel)
				b, _ := os.ReadFile(p)
				if string(b) != want[filepath.ToSlash(rel)] {
					t.Errorf("%s = %q, want %q", rel, b, want[rel])
				}
				if fi.Mode() != 0o644 || !fi.ModTime().Equal(time.Unix(0, 0)) {
					t.Errorf("%s: mode %v, mtime %v; want 0644 and the epoch", rel, fi.Mode(), fi.ModTime())
				}
				return nil
			})
			if len(got) != len(want) {
				t.Errorf("wrote %v, want the %d files of the lock", got, len(want))
			}
			// shim came from the second root after a 404 from the first;
			// the trixie source was never asked.
			wantGets := "/debian/pool/main/g/grub/grub_2_amd64.deb /debian/pool/main/s/shim/shim_1_amd64.deb /debian-security/pool/main/s/shim/shim_1_amd64.deb"
			a.mu.Lock()
			defer a.mu.Unlock()
			if g := strings.Join(a.gets, " "); g != wantGets {
				t.Errorf("requests %s, want %s", g, wantGets)
			}
		})
	}
}

func TestRelock(t *testing.T) {
	a := newArchive(t)
	shimDeb := makeDeb(t, map[string]string{"usr/lib/shim/shimx64.efi.signed": "shim 2", "usr/lib/shim/mmx64.efi.signed": "mm 2"})
	grubDeb := makeDeb(t, map[string]string{"usr/lib/grub/grubx64.efi.signed": "grub"})
	old := testLock(a, makeDeb(t, map[string]string{}), grubDeb)
	old.Packages[1].Version, old.Packages[1].SHA256, old.Packages[1].Filename = "", "", "" // as a new entry is added
	a.files["/debian-security/pool/main/s/shim/shim_1.10_amd64.deb"] = shimDeb
	index := fmt.Sprintf(`Package: shim
Version: 1.9
Architecture: amd64
Filename: pool/main/s/shim/shim_1.9_amd64.deb
SHA256: %[1]s

Package: shim
Version: 1.10
Architecture: amd64
Filename: pool/main/s/shim/shim_1.10_amd64.deb
SHA256: %[2]s

Package: shim
Version: 9
Architecture: arm64
Filename: pool/main/s/shim/shim_9_arm64.deb
SHA256: %[1]s

Package: grub
Version: 2
Architecture: amd64
Filename: pool/main/g/grub/grub_2_amd64.deb
SHA256: %[3]s
`, strings.Repeat("1", 64), hexSum(shimDeb), hexSum(grubDeb))
	idx, err := base.ReadArchiveIndex(strings.NewReader(index))
	if err != nil {
		t.Fatal(err)
	}
	l, changes, err := relock(context.Background(), old, idx, testDebian.Suites, Options{AptRoot: a.aptRoot})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	if p := l.Packages[1]; p.Version != "1.10" || p.SHA256 != hexSum(shimDeb) || p.Filename != "pool/main/s/shim/shim_1.10_amd64.deb" {
		t.Errorf("shim locked as %+v, want 1.10", p)
	}
	if f := l.Files[2]; f.SHA256 != hexSum([]byte("mm 2")) {
		t.Errorf("file %s: sha256 %s, want that of the new content", f.Path, f.SHA256)
	}
	if old.Files[2].SHA256 != hexSum([]byte("mm")) {
		t.Error("relock changed the old lock's files")
	}
	if fmt.Sprint(changes) != "[{grub 2 2} {shim  1.10}]" {
		t.Errorf("changes %v", changes)
	}
	// A package the archive does not list is an error.
	old.Packages[0].Name = "grub-gone"
	old.Files[1].Package = "grub-gone"
	if _, _, err := relock(context.Background(), old, idx, testDebian.Suites, Options{AptRoot: a.aptRoot}); err == nil || !strings.Contains(err.Error(), "bootloader: the archive lists no grub-gone for amd64") {
		t.Errorf("err = %v", err)
	}
}
