package base

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/icos-build/icos/tools/oci"
)

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

func TestReadPackageList(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name, content string
		want          []string
		wantErr       string
	}{
		{"ok", "# comment\nsystemd\n\n  zstd  # trailing\nlinux-image-amd64\n", []string{"systemd", "zstd", "linux-image-amd64"}, ""},
		{"bad name", "systemd\nFoo_Bar\n", nil, ":2: \"Foo_Bar\" is not a Debian package name"},
		{"duplicate", "a1\nb1\na1\n", nil, ":3: \"a1\" already listed on line 1"},
		{"empty", "# nothing\n", nil, "no packages listed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadPackageList(writeFile(t, filepath.Join(dir, tc.name), tc.content))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func validLock() *Lock {
	return &Lock{
		Format: LockFormat, OS: "guestos", Variant: "prod",
		Image:           ImageRef{Repository: "icos/guestos-base", Digest: "sha256:" + strings.Repeat("a", 64)},
		SourceDateEpoch: 1700000000,
		Debian:          Debian{Suite: "bookworm", Suites: []string{"bookworm"}, Components: []string{"main"}, Architecture: "amd64", Variant: "apt"},
		Requested:       []string{"zstd"},
		Packages: []Package{
			{Name: "libc6", Version: "2.36-9+deb12u4", Architecture: "amd64", SHA256: strings.Repeat("1", 64)},
			{Name: "zstd", Version: "1.5.4+dfsg2-5", Architecture: "amd64", SHA256: strings.Repeat("2", 64)},
		},
		Builder: validBuilderLock().Ref(),
	}
}

func TestLockRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "base.lock.json")
	if err := WriteLock(name, validLock()); err != nil {
		t.Fatal(err)
	}
	l, err := ReadLock(name)
	if err != nil {
		t.Fatal(err)
	}
	if l.Packages[1].Version != "1.5.4+dfsg2-5" {
		t.Fatalf("round trip: %+v", l.Packages)
	}
	good, _ := os.ReadFile(name)
	tests := []struct {
		name    string
		edit    func(string) string
		wantErr string
	}{
		{"not json", func(string) string { return "{" }, "malformed"},
		{"trailing data", func(s string) string { return s + "}\n" }, "malformed: data after the JSON object"},
		{"second object", func(s string) string { return s + s }, "malformed: data after the JSON object"},
		{"unknown field", func(s string) string { return strings.Replace(s, `"format"`, `"fromat": 1, "format"`, 1) }, "malformed"},
		{"bad digest", func(s string) string { return strings.Replace(s, "sha256:aaaa", "sha256:zz", 1) }, "image.digest"},
		{"bad deb sha", func(s string) string { return strings.Replace(s, strings.Repeat("2", 64), "abc", 1) }, `packages[1] zstd: sha256 "abc"`},
		{"unsorted", func(s string) string { return strings.Replace(s, `"name": "libc6"`, `"name": "zzz"`, 1) }, "packages[1] zstd: not sorted"},
		{"requested not installed", func(s string) string {
			return strings.Replace(s, `"requested": [
    "zstd"`, `"requested": [
    "nginx"`, 1)
		}, "requested package nginx"},
		{"no epoch", func(s string) string { return strings.Replace(s, "1700000000", "0", 1) }, "source_date_epoch"},
		{"bad variant", func(s string) string { return strings.Replace(s, `"prod"`, `"staging"`, 1) }, `variant "staging"`},
		{"format 1 (no builder)", func(s string) string {
			return strings.Replace(strings.Replace(s, `"format": 2`, `"format": 1`, 1), `"builder": {`, `"builderx": {`, 1)
		}, "malformed"},
		{"no builder", func(s string) string {
			return s[:strings.Index(s, `,
  "builder"`)] + "\n}\n"
		}, "builder is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bad := writeFile(t, filepath.Join(t.TempDir(), "lock.json"), tc.edit(string(good)))
			_, err := ReadLock(bad)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), bad) {
				t.Fatalf("err = %v, want %q and the file name", err, tc.wantErr)
			}
		})
	}
	// An invalid lock is never written, and nothing is left behind.
	l.Packages = nil
	out := filepath.Join(t.TempDir(), "x.json")
	if err := WriteLock(out, l); err == nil {
		t.Fatal("invalid lock written")
	}
	if ents, _ := os.ReadDir(filepath.Dir(out)); len(ents) != 0 {
		t.Fatalf("%d files left", len(ents))
	}
}

func TestHostSources(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/apt/sources.list"), "# old style\ndeb [arch=amd64 signed-by=/k.gpg] file:/srv/one bookworm main contrib\ndeb-src file:/srv/one bookworm main\n")
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/debian.sources"), `Types: deb
URIs: file:/srv/mirror/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: file:/srv/mirror/debian-security
Suites: bookworm-security
Components: main non-free-firmware

Types: deb
URIs: file:/srv/other
Suites: trixie
Components: main

Enabled: no
Types: deb
URIs: file:/srv/off
Suites: bookworm
Components: main
`)
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/x.list.disabled"), "deb file:/srv/nope bookworm main\n")
	src, err := HostSources(root, "bookworm", []string{"main"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, s := range src {
		lines = append(lines, s.Line())
	}
	want := []string{
		"deb [signed-by=/k.gpg] file:/srv/one bookworm main",
		"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] file:/srv/mirror/debian bookworm main",
		"deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] file:/srv/mirror/debian bookworm-updates main",
		"deb file:/srv/mirror/debian-security bookworm-security main",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Fatalf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if _, err := HostSources(root, "buster", []string{"main"}); err == nil {
		t.Fatal("missing suite accepted")
	}
}

func TestIndexAndInstalled(t *testing.T) {
	index, err := parseIndex(strings.NewReader("Package: zstd\nVersion: 1.5\nArchitecture: amd64\nSHA256: " + strings.Repeat("2", 64) + "\n\nPackage: libc6\nArchitecture: amd64\nVersion: 2.36\nSHA256: " + strings.Repeat("1", 64) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	pkgs, err := parseInstalled(strings.NewReader("zstd\t1.5\tamd64\nlibc6\t2.36\tamd64\n"), index)
	if err != nil {
		t.Fatal(err)
	}
	if len(pkgs) != 2 || pkgs[0].Name != "libc6" || pkgs[1].SHA256 != strings.Repeat("2", 64) {
		t.Fatalf("got %+v", pkgs)
	}
	if _, err := parseInstalled(strings.NewReader("ghost\t1\tamd64\n"), index); err == nil || !strings.Contains(err.Error(), "ghost 1") {
		t.Fatalf("err = %v", err)
	}
	changed := append([]Package(nil), pkgs...)
	changed[1].Version = "1.6"
	changed = append(changed, Package{Name: "new", Version: "1"})
	d := diffPackages(pkgs, changed[1:])
	for _, want := range []string{"+ new 1", "~ zstd 1.6, lock has 1.5", "- libc6 2.36"} {
		if !strings.Contains(d, want) {
			t.Errorf("diff %q lacks %q", d, want)
		}
	}
	if diffPackages(pkgs, pkgs) != "" {
		t.Error("equal sets differ")
	}
}

func TestCheckPackages(t *testing.T) {
	known := map[string]bool{"systemd": true, "zstd": true}
	check := func(n string) (bool, error) { return known[n], nil }
	if err := CheckPackages([]string{"systemd", "zstd"}, check); err != nil {
		t.Fatal(err)
	}
	err := CheckPackages([]string{"systemd", "no-such-pkg", "zstd", "other"}, check)
	if err == nil || !strings.Contains(err.Error(), "no-such-pkg, other") {
		t.Fatalf("err = %v", err)
	}
}

// fakeDebootstrapTar stands in for mmdebstrap's output.
func fakeDebootstrapTar(t *testing.T, dir string, mtime time.Time) string {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	add := func(h *tar.Header, body string) {
		h.ModTime, h.Uname, h.Gname = mtime, "root", "root"
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	add(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./usr/bin/", Typeflag: tar.TypeDir, Mode: 0o755}, "")
	add(&tar.Header{Name: "./usr/bin/true", Typeflag: tar.TypeReg, Mode: 0o755}, "ELF")
	add(&tar.Header{Name: "./usr/bin/ping", Typeflag: tar.TypeReg, Mode: 0o755, PAXRecords: map[string]string{"SCHILY.xattr.security.capability": "\x01\x00\x00\x02"}}, "ping")
	add(&tar.Header{Name: "./dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}, "")
	add(&tar.Header{Name: "./bin", Typeflag: tar.TypeSymlink, Linkname: "usr/bin"}, "")
	add(&tar.Header{Name: "./usr/bin/[", Typeflag: tar.TypeLink, Linkname: "./usr/bin/true"}, "")
	tw.Close()
	p := filepath.Join(dir, "mmdebstrap.tar")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestStoreImageDeterministic turns the same (fake) mmdebstrap output into
// an image twice, with different mtimes in the input, temporary
// directories, umask and time zone: the digests must match, the image must
// be a valid OCI image and the layer must hold the normalized files.
func TestStoreImageDeterministic(t *testing.T) {
	store, err := oci.Open(filepath.Join(t.TempDir(), "store"))
	if err != nil {
		t.Fatal(err)
	}
	l := validLock()
	var digests []string
	for i, env := range []struct {
		umask int
		tz    *time.Location
		mtime time.Time
	}{{0o022, time.UTC, time.Unix(1, 0)}, {0o077, time.FixedZone("X", 5*3600), time.Unix(1800000000, 0)}} {
		old := syscall.Umask(env.umask)
		oldLoc := time.Local
		time.Local = env.tz
		tmp := t.TempDir()
		h, _, err := storeImage(store, fakeDebootstrapTar(t, tmp, env.mtime), tmp, l)
		time.Local = oldLoc
		syscall.Umask(old)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		digests = append(digests, h.String())
	}
	if digests[0] != digests[1] {
		t.Fatalf("digests differ: %v", digests)
	}
	h, _ := oci.ParseDigest(digests[0])
	img, err := store.Image(h)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(img); err != nil {
		t.Fatalf("invalid image: %v", err)
	}
	cfg, _ := img.ConfigFile()
	if cfg.Created.Unix() != l.SourceDateEpoch || len(cfg.History) != 0 || cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Fatalf("config %+v", cfg)
	}
	diff, err := DiffImages(img, img)
	if err != nil || !strings.Contains(diff, "same files") {
		t.Fatalf("diff of an image with itself: %q %v", diff, err)
	}
	entries, err := imageEntries(img)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := entries["dev/null"]; ok {
		t.Error("dev/null kept")
	}
	for _, n := range []string{"usr/bin/[", "usr/bin/true", "bin"} {
		if !strings.Contains(entries[n], "mtime=1700000000") {
			t.Errorf("%s: %q", n, entries[n])
		}
	}
	if !strings.Contains(entries["usr/bin/ping"], "security.capability") {
		t.Errorf("xattr lost: %q", entries["usr/bin/ping"])
	}

	// Bytes appended to the stored layer (past the end of the gzip stream,
	// which the tar reader never reaches) make the comparison fail.
	layers, _ := img.Layers()
	lh, _ := layers[0].Digest()
	blob := store.BlobPath(lh)
	os.Chmod(blob, 0o644)
	f, err := os.OpenFile(blob, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("appended")
	f.Close()
	if img, err = store.Image(h); err == nil {
		_, err = imageEntries(img)
	}
	if err == nil || !strings.Contains(err.Error(), lh.String()) {
		t.Fatalf("tampered layer: err = %v, want one naming %s", err, lh)
	}
}

func TestFetchNotFound(t *testing.T) {
	store, err := oci.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	l := validLock()
	c := Context{Dir: "ic-os/guestos/context", OS: "guestos", Variant: "prod"}
	_, _, err = Fetch(context.Background(), l, c, store, []string{"127.0.0.1:1/mirror"})
	if !errors.Is(err, oci.ErrNotFound) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{l.Image.Digest, store.Dir, "127.0.0.1:1/mirror/icos/guestos-base", "icos base build --context ic-os/guestos/context --os guestos --variant prod"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if got := l.PushTag(); got != "prod-2023-11-14" {
		t.Errorf("PushTag = %s", got)
	}
}
