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

// infoScript runs as mmdebstrap's first customize hook ($1 is the root,
// $2 the info directory): it records what was installed and the archive's
// index, and removes the pinning preferences.
const infoScript = `#!/bin/sh
set -eu
root="$1"
info="$2"
chroot "$root" dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n' > "$info/installed.tsv"
cat "$root"/var/lib/apt/lists/*_Packages > "$info/Packages"
rm -f "$root/etc/apt/preferences.d/icos-lock"
`

// cleanupScript runs as the second customize hook of a base image build
// ($1 is the root): it removes or fixes what would differ from build to
// build, or would carry the build host into the image.
const cleanupScript = `#!/bin/sh
set -eu
root="$1"
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
# NVMe-oF host identities: nvme-cli's postinst derives them from the build
# machine's DMI UUID or makes them at random; each node needs its own
rm -f "$root/etc/nvme/hostid" "$root/etc/nvme/hostnqn"
# caches with timestamps or build-host data
rm -f "$root/var/cache/ldconfig/aux-cache"
rm -rf "$root"/var/cache/man/*
# host files mmdebstrap copies in (with the host's modes) or writes (the
# mirror's address, the host's fstab comment): replaced by fixed content
rm -f "$root/etc/hostname"
echo localhost > "$root/etc/hostname"
chmod 0644 "$root/etc/hostname"
if [ -f "$root/etc/resolv.conf" ] && [ ! -L "$root/etc/resolv.conf" ]; then
  rm -f "$root/etc/resolv.conf"
  : > "$root/etc/resolv.conf"
  chmod 0644 "$root/etc/resolv.conf"
fi
rm -f "$root/etc/fstab"
echo '# filesystems are mounted by systemd units' > "$root/etc/fstab"
chmod 0644 "$root/etc/fstab"
rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
: > "$root/etc/apt/sources.list"
chmod 0644 "$root/etc/apt/sources.list"
`

// BuildOptions describes one base image build.
type BuildOptions struct {
	Lock    *Lock      // OS, variant, epoch, suite, requested packages; Packages pins versions unless Resolve
	Resolve bool       // take the newest versions instead of the locked ones
	Builder *Builder   // the builder root mmdebstrap runs in (see EnsureBuilder)
	Store   *oci.Store // where the image goes
	TmpDir  string     // scratch space ("" for the default)
	AptRoot string     // root of the host apt configuration ("/" normally)
	Log     io.Writer  // progress: mmdebstrap's phases with elapsed time
}

// Result is a built image.
type Result struct {
	Digest   v1.Hash
	Packages []Package // installed packages with .deb checksums
	Stats    rootfs.Stats
	Elapsed  time.Duration // mmdebstrap's run
}

// Build runs mmdebstrap inside the pinned builder root for the lock
// (pinned versions unless opt.Resolve), normalizes the result into one
// layer with every mtime set to the lock's epoch, stores the image and
// returns its digest. In a locked build the installed package set must
// equal the lock exactly, and the lock must name the builder's ID.
func Build(opt BuildOptions) (*Result, error) {
	l := opt.Lock
	if opt.Builder == nil {
		return nil, fmt.Errorf("base: no builder (see EnsureBuilder)")
	}
	if !opt.Resolve {
		if l.Builder == nil {
			return nil, fmt.Errorf("base: the lock of %s (%s) names no builder: re-lock with icos base bump", l.OS, l.Variant)
		}
		if err := CheckBuilder(l, "the lock of "+l.OS+" ("+l.Variant+")", opt.Builder.Lock, "this checkout's builder"); err != nil {
			return nil, err
		}
	}
	tmp, err := os.MkdirTemp(opt.TmpDir, "icos-base-")
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	defer os.RemoveAll(tmp)
	run := debootstrapRun{
		lock: l, resolve: opt.Resolve, tmp: tmp, aptRoot: opt.AptRoot, log: opt.Log,
		format: "tar", target: filepath.Join(tmp, "mmdebstrap.tar"), cleanup: true,
	}
	t0 := time.Now()
	pkgs, err := run.run(opt.Builder)
	if err != nil {
		return nil, err
	}
	res := &Result{Packages: pkgs, Elapsed: time.Since(t0)}
	if !opt.Resolve {
		if d := diffPackages(l.Packages, pkgs); d != "" {
			return nil, fmt.Errorf("base: installed packages differ from the lock:\n%s", d)
		}
	}
	logf(opt.Log, "[%4ds] normalizing the tree into one layer", int(time.Since(t0).Seconds()))
	res.Digest, res.Stats, err = storeImage(opt.Store, run.target, tmp, l)
	if err != nil {
		return nil, err
	}
	logf(opt.Log, "[%4ds] stored %s (%d entries)", int(time.Since(t0).Seconds()), res.Digest, res.Stats.Entries)
	return res, nil
}

// debootstrapRun is one mmdebstrap run: a base image (tar, cleaned) inside
// a builder root, or a builder root itself (directory) with the host's
// mmdebstrap.
type debootstrapRun struct {
	lock    *Lock
	resolve bool
	tmp     string // scratch directory; target lies inside it
	aptRoot string
	log     io.Writer
	format  string // mmdebstrap --format: tar or directory
	target  string
	cleanup bool // run cleanupScript
}

// run runs mmdebstrap, inside b when b is not nil, and returns the
// installed packages. In a resolving run the lock's suites are set from
// the host's sources.
func (r *debootstrapRun) run(b *Builder) ([]Package, error) {
	l := r.lock
	// apt downloads as _apt, which must reach the scratch directory.
	if err := os.Chmod(r.tmp, 0o755); err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	// in maps a path under tmp to the path mmdebstrap sees.
	in := func(p string) string {
		if b == nil {
			return p
		}
		rel, err := filepath.Rel(r.tmp, p)
		if err != nil || strings.HasPrefix(rel, "..") {
			panic("base: path outside the scratch directory: " + p)
		}
		return filepath.Join(buildMount, rel)
	}
	aptRoot := r.aptRoot
	if aptRoot == "" {
		aptRoot = "/"
	}
	sources, err := HostSources(aptRoot, l.Debian.Suite, l.Debian.Components)
	if err != nil {
		return nil, err
	}
	suites := Suites(sources)
	if r.resolve {
		l.Debian.Suites = suites
	} else if strings.Join(suites, ",") != strings.Join(l.Debian.Suites, ",") {
		return nil, fmt.Errorf("base: the host's apt sources offer suites %v, the lock was made with %v", suites, l.Debian.Suites)
	}
	info := filepath.Join(r.tmp, "info")
	if err := os.Mkdir(info, 0o755); err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	scripts := map[string]string{"info.sh": infoScript, "cleanup.sh": cleanupScript}
	for name, body := range scripts {
		if err := os.WriteFile(filepath.Join(r.tmp, name), []byte(body), 0o755); err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
	}
	args := []string{
		"--mode=root", "--format=" + r.format, "--variant=" + l.Debian.Variant,
		"--architectures=" + l.Debian.Architecture,
		"--components=" + strings.Join(l.Debian.Components, ","),
		`--aptopt=APT::Install-Recommends "false"`,
		`--aptopt=APT::Install-Suggests "false"`,
	}
	if r.cleanup {
		for _, d := range dpkgExcludes {
			args = append(args, "--dpkgopt="+d)
		}
	}
	include := append([]string(nil), l.Requested...)
	if !r.resolve {
		pinned := map[string]string{}
		var prefs bytes.Buffer
		for _, p := range l.Packages {
			pinned[p.Name] = p.Version
			fmt.Fprintf(&prefs, "Package: %s\nPin: version %s\nPin-Priority: 1001\n\n", p.Name, p.Version)
		}
		for i, req := range include {
			include[i] = req + "=" + pinned[req]
		}
		pf := filepath.Join(r.tmp, "preferences")
		if err := os.WriteFile(pf, prefs.Bytes(), 0o644); err != nil {
			return nil, fmt.Errorf("base: %w", err)
		}
		args = append(args, fmt.Sprintf(`--setup-hook=mkdir -p "$1/etc/apt/preferences.d" && cp %s "$1/etc/apt/preferences.d/icos-lock"`, shellQuote(in(pf))))
	}
	args = append(args, "--include="+strings.Join(include, ","))
	args = append(args, fmt.Sprintf(`--customize-hook=%s "$1" %s`, shellQuote(in(filepath.Join(r.tmp, "info.sh"))), shellQuote(in(info))))
	if r.cleanup {
		args = append(args, fmt.Sprintf(`--customize-hook=%s "$1"`, shellQuote(in(filepath.Join(r.tmp, "cleanup.sh")))))
	}
	args = append(args, l.Debian.Suite, in(r.target))
	for _, s := range sources {
		args = append(args, s.Line())
	}
	env := []string{"SOURCE_DATE_EPOCH=" + strconv.FormatInt(l.SourceDateEpoch, 10), "TZ=UTC", "LC_ALL=C.UTF-8"}
	var cmd *exec.Cmd
	if b != nil {
		cmd = b.command(r.tmp, env, args)
	} else {
		// A fixed umask: files mmdebstrap and the hooks create get the
		// same modes whatever the caller's umask is.
		cmd = exec.Command("sh", append([]string{"-c", `umask 022 && exec mmdebstrap "$@"`, "mmdebstrap"}, args...)...)
		cmd.Env = append(os.Environ(), env...)
	}
	var tail tailBuffer
	w := io.Writer(&tail)
	var progress *phaseWriter
	if r.log != nil {
		progress = &phaseWriter{w: r.log, start: time.Now()}
		w = io.MultiWriter(progress, &tail)
	}
	cmd.Stdout, cmd.Stderr = w, w
	what := "builder root"
	if b != nil {
		what = fmt.Sprintf("%s (%s) in builder %s", l.OS, l.Variant, b.Lock.ID()[:19])
	}
	logf(r.log, "mmdebstrap %s: %s, %d requested packages%s", l.Debian.Suite, what, len(l.Requested), lockedCount(l, r.resolve))
	if err := cmd.Run(); err != nil {
		hint := ""
		if !r.resolve && strings.Contains(tail.String(), "was not found") {
			hint = "\n(a locked version is gone from the archive, which lists only the newest version of each package; no snapshot archive is reachable from here: " +
				"`icos base check` lists what expired, tools/base-relock.sh re-locks to the current versions)"
		}
		return nil, fmt.Errorf("base: mmdebstrap: %w\n%s%s", err, tail.String(), hint)
	}
	if progress != nil {
		progress.Flush()
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
	return pkgs, nil
}

func lockedCount(l *Lock, resolve bool) string {
	if resolve {
		return ", newest versions"
	}
	return fmt.Sprintf(", %d locked packages", len(l.Packages))
}

// phaseWriter passes mmdebstrap's phase lines ("I: ...", "W: ...",
// "E: ...") through, prefixed with the seconds since start, and drops
// apt's and dpkg's per-package chatter.
type phaseWriter struct {
	w     io.Writer
	start time.Time
	line  []byte
}

func (p *phaseWriter) Write(b []byte) (int, error) {
	for _, c := range b {
		if c == '\n' || c == '\r' {
			p.emit()
			continue
		}
		p.line = append(p.line, c)
	}
	return len(b), nil
}

func (p *phaseWriter) emit() {
	s := string(p.line)
	p.line = p.line[:0]
	if strings.HasPrefix(s, "I: ") || strings.HasPrefix(s, "W: ") || strings.HasPrefix(s, "E: ") {
		fmt.Fprintf(p.w, "icos: [%4ds] %s\n", int(time.Since(p.start).Seconds()), s)
	}
}

// Flush emits a last unterminated line.
func (p *phaseWriter) Flush() {
	if len(p.line) > 0 {
		p.emit()
	}
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
	st, err = tree.Write(io.MultiWriter(zw, diff), rootfs.WriteOptions{ModTime: &mtime, Exclude: excludeFromImage})
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
