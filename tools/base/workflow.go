package base

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/icos-build/icos/tools/oci"
)

// Context locates the files of one OS and variant in its context
// directory (ic-os/<os>/context).
type Context struct {
	Dir     string // the context directory
	OS      string // guestos, hostos, setupos, boundary-guestos
	Variant string // prod or dev
	// LockFile, if set, is the lock used instead of LockPath.
	LockFile string
}

// Lists returns the package list files of the variant: packages.common,
// plus packages.dev for dev.
func (c Context) Lists() []string {
	l := []string{filepath.Join(c.Dir, "packages.common")}
	if c.Variant == "dev" {
		l = append(l, filepath.Join(c.Dir, "packages.dev"))
	}
	return l
}

// LockPath returns the lock file of the variant: base.lock.json (prod) or
// base-dev.lock.json (dev).
func (c Context) LockPath() string {
	if c.LockFile != "" {
		return c.LockFile
	}
	if c.Variant == "dev" {
		return filepath.Join(c.Dir, "base-dev.lock.json")
	}
	return filepath.Join(c.Dir, "base.lock.json")
}

// BuildCommand is the command that builds the image of this context from
// its lock, quoted in errors.
func (c Context) BuildCommand() string {
	if c.LockFile != "" {
		return "icos base build --lock " + c.LockFile
	}
	return fmt.Sprintf("icos base build --context %s --os %s --variant %s", c.Dir, c.OS, c.Variant)
}

func (c Context) validate() error {
	if c.OS == "" || strings.ContainsAny(c.OS, "/: ") {
		return fmt.Errorf("base: invalid OS name %q", c.OS)
	}
	if c.Variant != "prod" && c.Variant != "dev" {
		return fmt.Errorf("base: variant %q, want prod or dev", c.Variant)
	}
	return nil
}

// PackageChecker reports whether a package name exists in the archive;
// CheckPackages uses it to reject unknown names before a build starts.
type PackageChecker func(name string) (bool, error)

// CheckPackages returns an error naming every requested package that
// check does not know.
func CheckPackages(names []string, check PackageChecker) error {
	var unknown []string
	for _, n := range names {
		ok, err := check(n)
		if err != nil {
			return fmt.Errorf("base: checking package %s: %w", n, err)
		}
		if !ok {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		return fmt.Errorf("base: unknown package(s) %s: not in the host's apt indexes (run apt-get update, or fix the package list)", strings.Join(unknown, ", "))
	}
	return nil
}

// BumpOptions describes a bump: re-resolve the lists to the newest
// versions, build, store and rewrite the lock.
type BumpOptions struct {
	Context
	Epoch  int64 // SOURCE_DATE_EPOCH of the new lock; 0 keeps the old lock's
	Check  PackageChecker
	Build  BuildOptions // Lock and Resolve are set by Bump
	Repo   string       // image repository name recorded in the lock ("" keeps the old one or uses icos/<os>-base)
	Output string       // lock file to write ("" for Context.LockPath)
}

// Bump resolves the package lists to the newest versions the mirror has,
// builds and stores the image and writes the new lock. It returns the new
// lock.
func Bump(opt BumpOptions) (*Lock, error) {
	if err := opt.validate(); err != nil {
		return nil, err
	}
	req, err := Lists(opt.Lists()...)
	if err != nil {
		return nil, err
	}
	if opt.Check != nil {
		if err := CheckPackages(req, opt.Check); err != nil {
			return nil, err
		}
	}
	out := opt.Output
	if out == "" {
		out = opt.LockPath()
	}
	l := &Lock{
		Format: LockFormat, OS: opt.OS, Variant: opt.Variant,
		Image:     ImageRef{Repository: "icos/" + opt.OS + "-base"},
		Debian:    Debian{Suite: DefaultSuite, Components: []string{"main"}, Architecture: DefaultArchitecture, Variant: DefaultVariant},
		Requested: req,
	}
	// The old lock gives repository, epoch and source; it may be of an
	// older format, so it is decoded without validation.
	if old, err := readLockFields(out); err == nil {
		l.Image.Repository = old.Image.Repository
		l.SourceDateEpoch = old.SourceDateEpoch
		l.Debian = old.Debian
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if opt.Repo != "" {
		l.Image.Repository = opt.Repo
	}
	if opt.Epoch != 0 {
		l.SourceDateEpoch = opt.Epoch
	}
	if l.SourceDateEpoch <= 0 {
		return nil, fmt.Errorf("base: no epoch: give --epoch or set SOURCE_DATE_EPOCH")
	}
	b := opt.Build
	b.Lock, b.Resolve = l, true
	res, err := Build(b) // refuses a nil b.Builder
	if err != nil {
		return nil, err
	}
	l.Packages = res.Packages
	l.Builder = b.Builder.Lock.Ref()
	l.Image.Digest = res.Digest.String()
	if err := WriteLock(out, l); err != nil {
		return nil, err
	}
	return l, nil
}

// BuildLocked builds the image of a lock with exactly the locked versions
// and returns the result; it does not compare digests.
func BuildLocked(l *Lock, b BuildOptions) (*Result, error) {
	b.Lock, b.Resolve = l, false
	return Build(b)
}

// Verify rebuilds the lock's image and compares its digest with the
// locked one. On a mismatch the error lists the files that differ between
// the locked image (from the store) and the rebuild.
func Verify(l *Lock, b BuildOptions) (*Result, error) {
	want, err := oci.ParseDigest(l.Image.Digest)
	if err != nil {
		return nil, fmt.Errorf("base: lock has no image digest: %w", err)
	}
	res, err := BuildLocked(l, b)
	if err != nil {
		return nil, err
	}
	if res.Digest == want {
		return res, nil
	}
	msg := fmt.Sprintf("base: rebuild of %s (%s) gives %s, the lock has %s", l.OS, l.Variant, res.Digest, want)
	oldImg, err := b.Store.Image(want)
	if err != nil {
		return res, fmt.Errorf("%s.\nWhat is known: %s; so files differ. The locked image is not in the store, so they cannot be\nlisted (fetch it with icos base fetch, then verify again)", msg, knownInputs(l, res, b.Builder))
	}
	newImg, err := b.Store.Image(res.Digest)
	if err != nil {
		return res, fmt.Errorf("%s: %w", msg, err)
	}
	diff, err := diffImages(oldImg, newImg)
	if err != nil {
		return res, fmt.Errorf("%s; comparing files: %w", msg, err)
	}
	return res, fmt.Errorf("%s; files differing (- locked, + rebuilt):\n%s", msg, diff)
}

// entrySummary describes one tar entry for DiffImages.
func entrySummary(h *tar.Header, r io.Reader) (string, error) {
	s := fmt.Sprintf("type=%c mode=%o owner=%d:%d mtime=%d", h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.Unix())
	switch h.Typeflag {
	case tar.TypeSymlink, tar.TypeLink:
		s += " -> " + h.Linkname
	case tar.TypeReg:
		d := sha256.New()
		if _, err := io.Copy(d, r); err != nil {
			return "", err
		}
		s += fmt.Sprintf(" size=%d sha256=%s", h.Size, hex.EncodeToString(d.Sum(nil))[:16])
	}
	var keys []string
	for k := range h.PAXRecords {
		if strings.HasPrefix(k, "SCHILY.xattr.") {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		s += fmt.Sprintf(" %s=%x", k, h.PAXRecords[k])
	}
	return s, nil
}

func imageEntries(img v1.Image) (map[string]string, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				rc.Close()
				return nil, err
			}
			s, err := entrySummary(h, tr)
			if err != nil {
				rc.Close()
				return nil, err
			}
			out[h.Name] = s
		}
		if err := rc.Close(); err != nil { // the layer's digest is checked here
			return nil, err
		}
	}
	return out, nil
}

// DiffImages lists, sorted by name, the entries whose metadata or content
// differ between the layers of two images ("-" old, "+" new). At most
// 200 lines are returned.
func DiffImages(oldImg, newImg v1.Image) (string, error) {
	diff, err := diffImages(oldImg, newImg)
	if err != nil {
		return "", fmt.Errorf("base: %w", err)
	}
	return diff, nil
}

// diffImages is DiffImages with errors not prefixed (for Verify, whose
// message has the prefix).
func diffImages(oldImg, newImg v1.Image) (string, error) {
	a, err := imageEntries(oldImg)
	if err != nil {
		return "", fmt.Errorf("old image: %w", err)
	}
	b, err := imageEntries(newImg)
	if err != nil {
		return "", fmt.Errorf("new image: %w", err)
	}
	names := map[string]bool{}
	for n := range a {
		names[n] = true
	}
	for n := range b {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		if a[n] != b[n] {
			sorted = append(sorted, n)
		}
	}
	sort.Strings(sorted)
	var lines []string
	for _, n := range sorted {
		if s, ok := a[n]; ok {
			lines = append(lines, fmt.Sprintf("- %s %s", n, s))
		}
		if s, ok := b[n]; ok {
			lines = append(lines, fmt.Sprintf("+ %s %s", n, s))
		}
	}
	if len(lines) > 200 {
		lines = append(lines[:200], fmt.Sprintf("... and %d more lines", len(lines)-200))
	}
	if len(lines) == 0 {
		return "(same files; the difference is in the image config or compression)", nil
	}
	return strings.Join(lines, "\n"), nil
}

// Repositories returns, for each registry prefix ("host[:port][/path]"),
// the repository holding the lock's image: "<prefix>/<image.repository>".
func (l *Lock) Repositories(registries []string) []string {
	var out []string
	for _, r := range registries {
		out = append(out, strings.TrimSuffix(r, "/")+"/"+l.Image.Repository)
	}
	return out
}

// PushTag returns the tag a bump pushes: "<variant>-<YYYY-MM-DD of the epoch>".
func (l *Lock) PushTag() string {
	return l.Variant + "-" + time.Unix(l.SourceDateEpoch, 0).UTC().Format("2006-01-02")
}

// Fetch returns the lock's image from the store or from the registries
// (prefixes, see Repositories), storing it locally, and errors with the
// digest, the places searched and the build command when it is found
// nowhere.
func Fetch(ctx context.Context, l *Lock, c Context, store *oci.Store, registries []string) (v1.Image, v1.Hash, error) {
	h, err := oci.ParseDigest(l.Image.Digest)
	if err != nil {
		return nil, h, fmt.Errorf("base: lock has no image digest: %w", err)
	}
	img, err := store.Fetch(ctx, h, l.Repositories(registries), c.BuildCommand())
	return img, h, err
}

// EnvAllowUnpinned names the environment variable that lets a build go on
// with a locally built base image whose digest differs from the lock.
const EnvAllowUnpinned = "ICOS_ALLOW_UNPINNED_BASE"

// FetchOptions says what FetchOrBuild may do when the locked image is in
// neither the store nor a registry.
type FetchOptions struct {
	Registries    []string     // registry prefixes searched after the store
	BuildMissing  bool         // build the image from the lock when it is found nowhere
	AllowUnpinned bool         // accept a build whose digest differs from the lock
	Build         BuildOptions // how to build (store, scratch dir, apt root, log)
	Log           io.Writer    // progress messages (nil: none)
	// Builder makes the builder root when Build.Builder is nil and a build
	// is needed (so a fetch that finds the image never makes one).
	Builder func() (*Builder, error)

	build func(*Lock, BuildOptions) (*Result, error) // BuildLocked; replaced in tests
}

// FetchResult is the image FetchOrBuild made available.
type FetchResult struct {
	Digest v1.Hash // the image in the store: the pinned one unless !Pinned
	Built  bool    // built here because it was found nowhere
	Pinned bool    // Digest is the lock's digest
}

// FetchOrBuild is Fetch that, with opt.BuildMissing, builds a missing image
// from the lock (exactly the locked package versions) and checks the
// result against the pin. A different digest is an error naming both
// digests, the places searched and the ways out, unless opt.AllowUnpinned,
// which returns the built image with Pinned false.
func FetchOrBuild(ctx context.Context, l *Lock, c Context, store *oci.Store, opt FetchOptions) (FetchResult, error) {
	_, h, err := Fetch(ctx, l, c, store, opt.Registries)
	if err == nil {
		return FetchResult{Digest: h, Pinned: true}, nil
	}
	var nf *oci.NotFoundError
	if !opt.BuildMissing || !errors.As(err, &nf) {
		return FetchResult{}, err
	}
	logf(opt.Log, "base image %s of %s (%s) is in no store or registry searched (%s);", h, l.OS, l.Variant, strings.Join(nf.Searched, "; "))
	logf(opt.Log, "building it from %s in the pinned builder: %d locked packages (measured on 2 cores: 2-5 minutes, plus ~30 s the first time to make the builder)", c.LockPath(), len(l.Packages))
	build := opt.build
	if build == nil {
		build = BuildLocked
	}
	opt.Build.Store = store
	if opt.Build.Builder == nil && opt.Builder != nil {
		b, err := opt.Builder()
		if err != nil {
			return FetchResult{}, fmt.Errorf("base: building the missing image %s from %s: %w", h, c.LockPath(), err)
		}
		opt.Build.Builder = b
	}
	res, err := build(l, opt.Build)
	if err != nil {
		return FetchResult{}, fmt.Errorf("base: building the missing image %s from %s: %w", h, c.LockPath(), err)
	}
	if res.Digest == h {
		logf(opt.Log, "built %s in %s: it matches the pin", h, res.Elapsed.Round(time.Second))
		return FetchResult{Digest: h, Built: true, Pinned: true}, nil
	}
	if opt.AllowUnpinned {
		logf(opt.Log, "WARNING: the build gives %s, the lock pins %s; going on with the local image because %s is set (version.txt says so)", res.Digest, h, EnvAllowUnpinned)
		return FetchResult{Digest: res.Digest, Built: true}, nil
	}
	return FetchResult{}, fmt.Errorf("base: %s (%s): rebuilding from %s gives %s, but the lock pins %s.\n"+
		"What is known: %s; so files differ. The pinned image is in no store or registry searched, so they\n"+
		"cannot be listed here; the rebuilt image stays in the store.\n"+
		"Either get the pinned image (a registry in $%s, or a copy of an OCI store in $%s) and run\n"+
		"`icos base verify --lock %s` to list the differing files, or set %s=1 to build with the local image\n"+
		"(version.txt then carries +unpinned-base)",
		l.OS, l.Variant, c.LockPath(), res.Digest, h, knownInputs(l, res, opt.Build.Builder),
		oci.EnvRegistries, oci.EnvStore, c.LockPath(), EnvAllowUnpinned)
}

// knownInputs describes what a build that missed its pin had in common
// with the lock: the package set, the epoch and the builder.
func knownInputs(l *Lock, res *Result, b *Builder) string {
	builder := "builder " + l.Builder.ID
	if b != nil {
		r := b.Lock.Ref()
		builder = fmt.Sprintf("builder %s (mmdebstrap %s, apt %s, dpkg %s), the one the lock names", r.ID, r.Tools["mmdebstrap"], r.Tools["apt"], r.Tools["dpkg"])
	}
	return fmt.Sprintf("the %d installed packages equal the lock (name, version, .deb sha256: checked), the epoch is %d,\nthe %s", len(res.Packages), l.SourceDateEpoch, builder)
}

// readLockFields decodes a lock file of any format without validating it.
func readLockFields(name string) (*Lock, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("base: %w", err)
	}
	var l Lock
	if err := json.Unmarshal(raw, &l); err != nil {
		return nil, fmt.Errorf("base: lock %s: malformed: %w", name, err)
	}
	return &l, nil
}
