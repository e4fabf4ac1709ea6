package base

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/icos-build/icos/tools/oci"
	"github.com/icos-build/icos/tools/rootfs"
)

// Defaults of the package source.
const (
	DefaultSuite        = "bookworm"
	DefaultArchitecture = "amd64"
	// DefaultVariant is the mmdebstrap variant: the Essential:yes set plus apt.
	DefaultVariant = "apt"
)

// dpkgExcludes keeps documentation, manual pages and translations out of
// the image (copyright files stay).
var dpkgExcludes = []string{
	"path-exclude=/usr/share/man/*",
	"path-exclude=/usr/share/info/*",
	"path-exclude=/usr/share/doc/*",
	"path-include=/usr/share/doc/*/copyright",
	"path-exclude=/usr/share/locale/*",
	"path-exclude=/usr/share/lintian/*",
}

// excludeFromImage lists what the image never carries: API filesystems and
// runtime directories are mounted at boot.
var excludeFromImage = []string{"dev/*", "proc/*", "sys/*", "run/*", "tmp/*", "var/tmp/*"}

// cleanupScript runs as mmdebstrap's customize hook ($1 is the root) after
// every package is installed: it records what was installed and the
// archive's index, then removes what differs from build to build.
const cleanupScript = `#!/bin/sh
set -eu
root="$1"
info="$2"
chroot "$root" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' > "$info/installed.tsv"
cat "$root"/var/lib/apt/lists/*_Packages > "$info/Packages"
rm -f "$root/etc/apt/preferences.d/icos-lock"
# apt state and caches
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
rm -f "$root"/var/lib/dpkg/*-old "$root"/var/cache/debconf/*-old
# logs
find "$root/var/log" -type f -delete
# python byte code
find "$root" -xdev \( -name '*.pyc' -o -name '*.pyo' \) -type f -delete
find "$root" -xdev -name __pycache__ -type d -empty -delete
# identities made at first boot, never at build time
rm -f "$root"/etc/ssh/ssh_host_*
: > "$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root/var/lib/systemd/random-seed" "$root/var/lib/systemd/credential.secret"
# caches with timestamps or build-host data
rm -f "$root/var/cache/ldconfig/aux-cache"
rm -rf "$root"/var/cache/man/*
# host files mmdebstrap copies in (with the host's modes) or writes (the
# mirror's address): replaced by fixed content and modes
rm -f "$root/etc/hostname"
echo localhost > "$root/etc/hostname"
chmod 0644 "$root/etc/hostname"
if [ -f "$root/etc/resolv.conf" ] && [ ! -L "$root/etc/resolv.conf" ]; then
  rm -f "$root/etc/resolv.conf"
  : > "$root/etc/resolv.conf"
  chmod 0644 "$root/etc/resolv.conf"
fi
rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
: > "$root/etc/apt/sources.list"
chmod 0644 "$root/etc/apt/sources.list"
`

// BuildOptions describes one base image build.
type BuildOptions struct {
	Lock    *Lock      // OS, variant, epoch, suite, requested packages; Packages pins versions unless Resolve
	Resolve bool       // take the newest versions instead of the locked ones
	Store   *oci.Store // where the image goes
	TmpDir  string     // scratch space ("" for the default)
	AptRoot string     // root of the host apt configuration ("/" normally)
	Log     io.Writer  // mmdebstrap's output
}

// Result is a built image.
type Result struct {
	Digest   v1.Hash
	Packages []Package // installed packages with .deb checksums
	Stats    rootfs.Stats
}

// Build runs mmdebstrap for the lock (pinned versions unless
// opt.Resolve), normalizes the result into one layer with every mtime set
// to the lock's epoch, stores the image and returns its digest. In a
// locked build the installed package set must equal the lock exactly.
func Build(opt BuildOptions) (*Result, error) {
	l := opt.Lock
	tmp, err := os.MkdirTemp(opt.TmpDir, "icos-base-")
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	defer os.RemoveAll(tmp)
	aptRoot := opt.AptRoot
	if aptRoot == "" {
		aptRoot = "/"
	}
	sources, err := HostSources(aptRoot, l.Debian.Suite, l.Debian.Components)
	if err != nil {
		return nil, err
	}
	var suites []string
	for _, s := range sources {
		if !contains(suites, s.Suite) {
			suites = append(suites, s.Suite)
		}
	}
	sort.Strings(suites)
	if opt.Resolve {
		l.Debian.Suites = suites
	} else if strings.Join(suites, ",") != strings.Join(l.Debian.Suites, ",") {
		return nil, fmt.Errorf("base: the host's apt sources offer suites %v, the lock was made with %v", suites, l.Debian.Suites)
	}
	script := filepath.Join(tmp, "cleanup.sh")
	if err := os.WriteFile(script, []byte(cleanupScript), 0o755); err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	info := filepath.Join(tmp, "info")
	if err := os.Mkdir(info, 0o755); err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	args := []string{
		"--mode=root", "--format=tar", "--variant=" + l.Debian.Variant,
		"--architectures=" + l.Debian.Architecture,
		"--components=" + strings.Join(l.Debian.Components, ","),
		`--aptopt=APT::Install-Recommends "false"`,
		`--aptopt=APT::Install-Suggests "false"`,
	}
	for _, d := range dpkgExcludes {
		args = append(args, "--dpkgopt="+d)
	}
	include := append([]string(nil), l.Requested...)
	if !opt.Resolve {
		pinned := map[string]string{}
		var prefs bytes.Buffer
		for _, p := range l.Packages {
			pinned[p.Name] = p.Version
			fmt.Fprintf(&prefs, "Package: %s\nPin: version %s\nPin-Priority: 1001\n\n", p.Name, p.Version)
		}
		for i, r := range include {
			include[i] = r + "=" + pinned[r]
		}
		pf := filepath.Join(tmp, "preferences")
		if err := os.WriteFile(pf, prefs.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
		args = append(args, fmt.Sprintf(`--setup-hook=mkdir -p "$1/etc/apt/preferences.d" && cp %s "$1/etc/apt/preferences.d/icos-lock"`, shellQuote(pf)))
	}
	args = append(args, "--include="+strings.Join(include, ","))
	args = append(args, fmt.Sprintf(`--customize-hook=%s "$1" %s`, shellQuote(script), shellQuote(info)))
	out := filepath.Join(tmp, "mmdebstrap.tar")
	args = append(args, l.Debian.Suite, out)
	for _, s := range sources {
		args = append(args, s.Line())
	}
	// A fixed umask: files mmdebstrap and the hooks create get the same
	// modes whatever the caller's umask is.
	cmd := exec.Command("sh", append([]string{"-c", `umask 022 && exec mmdebstrap "$@"`, "mmdebstrap"}, args...)...)
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+strconv.FormatInt(l.SourceDateEpoch, 10), "TZ=UTC", "LC_ALL=C.UTF-8")
	var tail tailBuffer
	w := io.Writer(&tail)
	if opt.Log != nil {
		w = io.MultiWriter(opt.Log, &tail)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Run(); err != nil {
		hint := ""
		if !opt.Resolve && strings.Contains(tail.String(), "was not found") {
			hint = "\n(a locked version is gone from the mirror; the Debian snapshot archive is not reachable from here, so run `icos base bump` to lock the current versions)"
		}
		return nil, fmt.Errorf("base: mmdebstrap: %w\n%s%s", err, tail.String(), hint)
	}
	idx, err := os.Open(filepath.Join(info, "Packages"))
	if err != nil {
		return nil, fmt.Errorf("base: archive index: %w", err)
	}
	index, err := parseIndex(idx)
	idx.Close()
	if err != nil {
		return nil, fmt.Errorf("base: archive index: %w", err)
	}
	inst, err := os.Open(filepath.Join(info, "installed.tsv"))
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	pkgs, err := parseInstalled(inst, index)
	inst.Close()
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	if !opt.Resolve {
		if d := diffPackages(l.Packages, pkgs); d != "" {
			return nil, fmt.Errorf("base: installed packages differ from the lock:\n%s", d)
		}
	}
	res := &Result{Packages: pkgs}
	res.Digest, res.Stats, err = storeImage(opt.Store, out, tmp, l)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// storeImage normalizes the mmdebstrap tar into one gzip layer, writes the
// image config and manifest and adds all three to the store.
func storeImage(store *oci.Store, tarPath, tmp string, l *Lock) (v1.Hash, rootfs.Stats, error) {
	var st rootfs.Stats
	tree, err := rootfs.New(tmp)
	if err != nil {
		return v1.Hash{}, st, err
	}
	defer tree.Close()
	f, err := os.Open(tarPath)
	if err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: %w", err)
	}
	err = tree.ApplyLayer(f)
	f.Close()
	if err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: mmdebstrap output: %w", err)
	}
	os.Remove(tarPath)

	blobPath := filepath.Join(tmp, "layer.tar.gz")
	blob, err := os.Create(blobPath)
	if err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: %w", err)
	}
	defer blob.Close()
	compressed := &countingHash{h: sha256.New()}
	diff := sha256.New()
	zw, err := gzip.NewWriterLevel(io.MultiWriter(blob, compressed), gzip.DefaultCompression)
	if err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: %w", err)
	}
	mtime := l.SourceDateEpoch
	st, err = tree.Write(io.MultiWriter(zw, diff), rootfs.WriteOptions{MTime: &mtime, Exclude: excludeFromImage})
	if err != nil {
		return v1.Hash{}, st, err
	}
	if err := zw.Close(); err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: %w", err)
	}
	layerDigest := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(compressed.h.Sum(nil))}
	diffID := v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(diff.Sum(nil))}
	if _, err := blob.Seek(0, io.SeekStart); err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: %w", err)
	}
	if err := store.WriteBlob(layerDigest, compressed.n, blob); err != nil {
		return v1.Hash{}, st, err
	}

	created := v1.Time{Time: time.Unix(l.SourceDateEpoch, 0).UTC()}
	cfg := v1.ConfigFile{
		Architecture: l.Debian.Architecture,
		OS:           "linux",
		Created:      created,
		Config: v1.Config{
			Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			Labels: map[string]string{
				"org.opencontainers.image.title": fmt.Sprintf("IC-OS %s base (%s)", l.OS, l.Variant),
			},
		},
		RootFS: v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{diffID}},
	}
	rawCfg, err := json.Marshal(cfg)
	if err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: config: %w", err)
	}
	cfgDigest := sha256Hash(rawCfg)
	if err := store.WriteBlob(cfgDigest, int64(len(rawCfg)), bytes.NewReader(rawCfg)); err != nil {
		return v1.Hash{}, st, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(rawCfg)), Digest: cfgDigest},
		Layers:        []v1.Descriptor{{MediaType: types.OCILayer, Size: compressed.n, Digest: layerDigest}},
	}
	rawM, err := json.Marshal(m)
	if err != nil {
		return v1.Hash{}, st, fmt.Errorf("base: manifest: %w", err)
	}
	h := sha256Hash(rawM)
	if err := store.WriteBlob(h, int64(len(rawM)), bytes.NewReader(rawM)); err != nil {
		return v1.Hash{}, st, err
	}
	desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(rawM)), Digest: h}
	if err := store.AddManifest(desc, l.Image.Repository+":"+l.Variant); err != nil {
		return v1.Hash{}, st, err
	}
	return h, st, nil
}

func sha256Hash(b []byte) v1.Hash {
	s := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(s[:])}
}

type countingHash struct {
	h hash.Hash
	n int64
}

func (c *countingHash) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return c.h.Write(p)
}

// tailBuffer keeps the last 64 KiB written to it.
type tailBuffer struct{ b []byte }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.b = append(t.b, p...)
	if len(t.b) > 64<<10 {
		t.b = t.b[len(t.b)-64<<10:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string { return string(t.b) }

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }
