package base

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// BuilderLockFormat is the version of the builder lock format.
const BuilderLockFormat = 1

// BuilderLockPath is where a checkout keeps the builder lock, relative to
// the workspace root.
const BuilderLockPath = "toolchains/base-builder/builder.lock.json"

// BuilderTools are the packages whose versions decide how a base image is
// assembled; a base lock names them next to the builder's ID so that a
// mismatch can be explained.
var BuilderTools = []string{"apt", "dpkg", "mmdebstrap"}

// BuilderLock pins the environment every base image is built in: a Debian
// root holding mmdebstrap, apt and dpkg (and everything they depend on)
// at exact versions. Base images are built by the mmdebstrap of this root,
// wherever the build runs (a bookworm host, the offline-Bazel chroot, CI),
// so the host's own tools never shape an image.
type BuilderLock struct {
	Format    int       `json:"format"`
	Debian    Debian    `json:"debian"`
	Requested []string  `json:"requested"`
	Packages  []Package `json:"packages"`
}

// BuilderRef is what a base lock records about the builder it was made
// with: the builder's ID and the versions of BuilderTools.
type BuilderRef struct {
	ID    string            `json:"id"`
	Tools map[string]string `json:"tools"`
}

// ID identifies the builder: "sha256:" of the canonical JSON of its Debian
// source and its exact package set (names, versions, architectures, .deb
// checksums). Two builder roots with the same ID hold the same packages.
func (b *BuilderLock) ID() string {
	raw, err := json.Marshal(struct {
		Debian   Debian    `json:"debian"`
		Packages []Package `json:"packages"`
	}{b.Debian, b.Packages})
	if err != nil {
		panic(err) // plain structs always marshal
	}
	s := sha256.Sum256(raw)
	return "sha256:" + hex.EncodeToString(s[:])
}

// Ref returns the reference a base lock records for this builder.
func (b *BuilderLock) Ref() *BuilderRef {
	r := &BuilderRef{ID: b.ID(), Tools: map[string]string{}}
	for _, p := range b.Packages {
		if contains(BuilderTools, p.Name) {
			r.Tools[p.Name] = p.Version
		}
	}
	return r
}

// asLock views the builder lock as a base lock, for the validation and
// the mmdebstrap run they share.
func (b *BuilderLock) asLock() *Lock {
	return &Lock{
		Format: LockFormat, OS: "builder", Variant: "prod",
		Image:           ImageRef{Repository: "builder"},
		SourceDateEpoch: 1,
		Debian:          b.Debian,
		Requested:       b.Requested,
		Packages:        b.Packages,
		Builder:         &BuilderRef{ID: "builder", Tools: map[string]string{}},
	}
}

// Validate checks a builder lock.
func (b *BuilderLock) Validate() error {
	if b.Format != BuilderLockFormat {
		return fmt.Errorf("format %d, want %d", b.Format, BuilderLockFormat)
	}
	if err := b.asLock().Validate(); err != nil {
		return err
	}
	for _, t := range BuilderTools {
		if !b.has(t) {
			return fmt.Errorf("the builder has no %s", t)
		}
	}
	return nil
}

func (b *BuilderLock) has(name string) bool {
	for _, p := range b.Packages {
		if p.Name == name {
			return true
		}
	}
	return false
}

// ReadBuilderLock reads and validates a builder lock.
func ReadBuilderLock(name string) (*BuilderLock, error) {
	var b BuilderLock
	if err := readJSON(name, "builder lock", &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// WriteBuilderLock writes the builder lock atomically, packages sorted.
func WriteBuilderLock(name string, b *BuilderLock) error {
	sort.Slice(b.Packages, func(i, j int) bool { return b.Packages[i].Name < b.Packages[j].Name })
	sort.Strings(b.Requested)
	return writeJSON(name, "builder lock", b)
}

// FindBuilderLock returns BuilderLockPath in dir or its nearest ancestor
// that has one.
func FindBuilderLock(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("base: %w", err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		p := filepath.Join(d, BuilderLockPath)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if d == filepath.Dir(d) {
			return "", fmt.Errorf("base: no %s in %s or any parent (give --builder-lock)", BuilderLockPath, abs)
		}
	}
}

// CheckBuilder returns nil when a base lock was made with builder b, else
// an error that names the difference and the way out.
func CheckBuilder(l *Lock, lockName string, b *BuilderLock, builderName string) error {
	want := b.Ref()
	if l.Builder.ID == want.ID {
		return nil
	}
	var diffs []string
	for _, t := range BuilderTools {
		if have, now := l.Builder.Tools[t], want.Tools[t]; have != now {
			diffs = append(diffs, fmt.Sprintf("%s %s -> %s", t, orNone(have), orNone(now)))
		}
	}
	what := "same mmdebstrap, apt and dpkg; other packages of the builder differ"
	if len(diffs) > 0 {
		what = strings.Join(diffs, ", ")
	}
	return fmt.Errorf("base: %s was made with builder %s, but %s is builder %s (%s): "+
		"the digest would differ; re-lock with `icos base bump`, or check out the builder lock the base lock was made with",
		lockName, l.Builder.ID, builderName, want.ID, what)
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// EnvBuilderCache names the environment variable that overrides where
// builder roots are kept.
const EnvBuilderCache = "ICOS_BUILDER_CACHE"

// DefaultBuilderCache returns $ICOS_BUILDER_CACHE, else
// $XDG_CACHE_HOME/icos/builder, else ~/.cache/icos/builder.
func DefaultBuilderCache() (string, error) {
	if d := os.Getenv(EnvBuilderCache); d != "" {
		return d, nil
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "icos", "builder"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("base: builder cache: %w", err)
	}
	return filepath.Join(home, ".cache", "icos", "builder"), nil
}

// Builder is a builder root on disk, made from a builder lock.
type Builder struct {
	Lock *BuilderLock
	Root string // the root directory
}

// buildMount is where a build's scratch directory appears inside the
// builder root.
const buildMount = "/build"

// BuilderOptions says where and how a builder root is made.
type BuilderOptions struct {
	Cache   string    // directory holding builder roots (DefaultBuilderCache); new roots are made in it
	TmpDir  string    // scratch space of BumpBuilder ("" for the default)
	AptRoot string    // root of the host apt configuration ("/" normally)
	Log     io.Writer // progress (nil: none)
}

// EnsureBuilder returns the builder root of bl, made under opt.Cache with
// the host's mmdebstrap from exactly the locked packages when it is not
// there yet. Either way the packages installed in the root are checked
// against the lock, so a root that is not the locked builder is never
// used. Concurrent callers wait for each other.
func EnsureBuilder(bl *BuilderLock, opt BuilderOptions) (*Builder, error) {
	if err := os.MkdirAll(opt.Cache, 0o755); err != nil {
		return nil, fmt.Errorf("base: builder cache: %w", err)
	}
	ref := bl.Ref()
	root := filepath.Join(opt.Cache, strings.TrimPrefix(ref.ID, "sha256:")[:32])
	b := &Builder{Lock: bl, Root: root}
	unlock, err := lockFile(filepath.Join(opt.Cache, ".lock"))
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(root, ".icos-builder")); err == nil {
		if err := b.check(); err != nil {
			return nil, fmt.Errorf("%w (remove %s to make it again)", err, root)
		}
		return b, nil
	}
	logf(opt.Log, "making the base-image builder %s (%d locked packages: mmdebstrap %s, apt %s, dpkg %s) with the host's mmdebstrap",
		ref.ID[:19], len(bl.Packages), ref.Tools["mmdebstrap"], ref.Tools["apt"], ref.Tools["dpkg"])
	t0 := time.Now()
	// Made beside its final place: a rename, never a copy.
	tmp, err := os.MkdirTemp(opt.Cache, ".builder-")
	if err != nil {
		return nil, fmt.Errorf("base: builder: %w", err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "root")
	run := debootstrapRun{
		lock: bl.asLock(), tmp: tmp, aptRoot: opt.AptRoot, log: opt.Log,
		format: "directory", target: dir,
	}
	pkgs, err := run.run(nil)
	if err != nil {
		return nil, fmt.Errorf("base: making the builder: %w", err)
	}
	if d := diffPackages(bl.Packages, pkgs); d != "" {
		return nil, fmt.Errorf("base: the builder's installed packages differ from its lock:\n%s", d)
	}
	// The build mount point, and a resolv.conf file to bind the host's on.
	if err := os.MkdirAll(dir+buildMount, 0o755); err != nil {
		return nil, fmt.Errorf("base: builder: %w", err)
	}
	rc := filepath.Join(dir, "etc/resolv.conf")
	os.Remove(rc)
	if err := os.WriteFile(rc, nil, 0o644); err != nil {
		return nil, fmt.Errorf("base: builder: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, ".icos-builder"), []byte(ref.ID+"\n"), 0o644); err != nil {
		return nil, fmt.Errorf("base: builder: %w", err)
	}
	os.RemoveAll(root)
	if err := os.Rename(dir, root); err != nil {
		return nil, fmt.Errorf("base: builder: %w", err)
	}
	logf(opt.Log, "builder ready in %s (%s)", time.Since(t0).Round(time.Second), root)
	return b, nil
}

// check compares the packages installed in the root with the lock.
func (b *Builder) check() error {
	out, err := exec.Command("chroot", b.Root, "dpkg-query", "-W", "-f", "${Package}\t${Version}\t${Architecture}\n").Output()
	if err != nil {
		return fmt.Errorf("base: builder %s: dpkg-query: %w", b.Root, err)
	}
	index := map[debKey]string{}
	for _, p := range b.Lock.Packages {
		index[debKey{p.Name, p.Version, p.Architecture}] = p.SHA256
	}
	var got []Package
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			return fmt.Errorf("base: builder %s: dpkg-query line %q", b.Root, line)
		}
		p := Package{Name: f[0], Version: f[1], Architecture: f[2]}
		p.SHA256 = index[debKey{p.Name, p.Version, p.Architecture}]
		got = append(got, p)
	}
	if d := diffPackages(b.Lock.Packages, got); d != "" {
		return fmt.Errorf("base: builder %s is not the locked builder %s:\n%s", b.Root, b.Lock.ID(), d)
	}
	return nil
}

// command returns mmdebstrap args run inside the builder root, in a
// private mount namespace where /proc, /sys, /dev, the host's resolv.conf
// and the scratch directory tmp (at /build) are mounted, with a clean
// environment plus env.
func (b *Builder) command(tmp string, env []string, args []string) *exec.Cmd {
	const script = `set -e
r=$1 w=$2; shift 2
mount -t proc proc "$r/proc"
mount --rbind /sys "$r/sys"; mount --make-rslave "$r/sys"
mount --rbind /dev "$r/dev"; mount --make-rslave "$r/dev"
mount --bind "$w" "$r` + buildMount + `"
if [ -e /etc/resolv.conf ]; then mount --bind /etc/resolv.conf "$r/etc/resolv.conf"; fi
umask 022
exec chroot "$r" "$@"`
	argv := []string{"--mount", "--propagation", propagation(), "--", "sh", "-c", script, "sh", b.Root, tmp,
		"/usr/bin/env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "TMPDIR=" + buildMount}
	argv = append(argv, env...)
	argv = append(argv, "mmdebstrap")
	argv = append(argv, args...)
	return exec.Command("unshare", argv...)
}

// propagation returns the unshare --propagation mode: "private", so no
// mount reaches the caller's namespace; inside a chroot whose root is no
// mount point (the offline-Bazel chroot, itself run in a private mount
// namespace) that fails, and "unchanged" keeps the private mounts private.
func propagation() string {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return "private"
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == "/" {
			return "private"
		}
	}
	return "unchanged"
}

// lockFile takes an exclusive flock on name and returns its release.
func lockFile(name string) (func(), error) {
	f, err := os.OpenFile(name, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("base: lock %s: %w", name, err)
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

func logf(w io.Writer, format string, a ...any) {
	if w != nil {
		fmt.Fprintf(w, "icos: "+format+"\n", a...)
	}
}

// BumpBuilder resolves the builder's package list (requested) to the
// newest versions, makes the root to check it installs, and returns the
// new lock (not yet written).
func BumpBuilder(requested []string, opt BuilderOptions) (*BuilderLock, error) {
	bl := &BuilderLock{
		Format:    BuilderLockFormat,
		Debian:    Debian{Suite: DefaultSuite, Components: []string{"main"}, Architecture: DefaultArchitecture, Variant: DefaultVariant},
		Requested: append([]string(nil), requested...),
	}
	tmp, err := os.MkdirTemp(opt.TmpDir, "icos-builder-bump-")
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	defer os.RemoveAll(tmp)
	l := bl.asLock()
	run := debootstrapRun{lock: l, resolve: true, tmp: tmp, aptRoot: opt.AptRoot, log: opt.Log,
		format: "directory", target: filepath.Join(tmp, "root")}
	pkgs, err := run.run(nil)
	if err != nil {
		return nil, fmt.Errorf("base: builder bump: %w", err)
	}
	bl.Debian.Suites = l.Debian.Suites
	bl.Packages = pkgs
	sort.Strings(bl.Requested)
	if err := bl.Validate(); err != nil {
		return nil, fmt.Errorf("base: builder bump: new builder lock: %w", err)
	}
	return bl, nil
}
