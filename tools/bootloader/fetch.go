package bootloader

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/base"
	"github.com/icos-build/icos/tools/deb"
	"github.com/icos-build/icos/tools/outfile"
)

// Options says where packages come from.
type Options struct {
	// AptRoot is the directory whose etc/apt gives the archive's address
	// ("" for "/").
	AptRoot string
	// Client downloads the .debs (nil: http.DefaultClient, which honours
	// the proxy variables).
	Client *http.Client
	// Log receives one line per package downloaded (nil: none).
	Log io.Writer
}

// ArchiveRoots returns the archive roots (URIs) of the host's apt sources
// for the suites of d, in the order the configuration lists them, each
// once.
func ArchiveRoots(aptRoot string, d base.Debian) ([]string, error) {
	if aptRoot == "" {
		aptRoot = "/"
	}
	sources, err := base.HostSources(aptRoot, d.Suite, d.Components)
	if err != nil {
		return nil, err
	}
	var roots []string
	for _, s := range sources {
		if !contains(d.Suites, s.Suite) || contains(roots, s.URI) {
			continue
		}
		roots = append(roots, s.URI)
	}
	if len(roots) == 0 {
		return nil, fmt.Errorf("bootloader: the host's apt configuration has no source for the suites %s", strings.Join(d.Suites, ", "))
	}
	return roots, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// download gets p's .deb from the first root that serves it, checks its
// sha256 while reading it and returns the files named in sources. A root
// that cannot be reached or does not have the file is skipped; a .deb
// with another checksum is an error.
func download(ctx context.Context, roots []string, p Package, sources []string, opt Options) (map[string][]byte, error) {
	client := opt.Client
	if client == nil {
		client = http.DefaultClient
	}
	var tried []string
	for _, root := range roots {
		url := strings.TrimSuffix(root, "/") + "/" + p.Filename
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			tried = append(tried, fmt.Sprintf("%s: %v", url, err))
			continue
		}
		resp, err := client.Do(req)
		if err != nil {
			tried = append(tried, err.Error())
			continue
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			tried = append(tried, fmt.Sprintf("%s: %s", url, resp.Status))
			continue
		}
		files, err := readDeb(resp.Body, p, sources)
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("%w (from %s)", err, url)
		}
		if opt.Log != nil {
			fmt.Fprintf(opt.Log, "bootloader: %s %s: %s\n", p.Name, p.Version, url)
		}
		return files, nil
	}
	return nil, fmt.Errorf("bootloader: package %s %s (%s) is served by no archive root of the host's apt sources:\n  %s",
		p.Name, p.Version, p.Filename, strings.Join(tried, "\n  "))
}

// readDeb reads a whole .deb from r, hashing it, and returns the files
// named in sources once the hash is p's. A wrong hash is reported before
// any error reading the package (a corrupt download is both).
func readDeb(r io.Reader, p Package, sources []string) (map[string][]byte, error) {
	h := sha256.New()
	tee := io.TeeReader(r, h)
	files, derr := deb.Files(tee, sources...)
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return nil, fmt.Errorf("bootloader: package %s %s: download: %w", p.Name, p.Version, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != p.SHA256 {
		return nil, fmt.Errorf("bootloader: package %s %s: .deb sha256 %s, the lock has %s", p.Name, p.Version, got, p.SHA256)
	}
	if derr != nil {
		return nil, fmt.Errorf("package %s %s: %w", p.Name, p.Version, derr)
	}
	return files, nil
}

// sourcesOf returns the sources of the files taken from package name.
func (l *Lock) sourcesOf(name string) []string {
	var out []string
	for _, f := range l.Files {
		if f.Package == name && !contains(out, f.Source) {
			out = append(out, f.Source)
		}
	}
	return out
}

// contents downloads every package of the lock and returns the content
// of each file, keyed by its path.
func (l *Lock) contents(ctx context.Context, opt Options) (map[string][]byte, error) {
	roots, err := ArchiveRoots(opt.AptRoot, l.Debian)
	if err != nil {
		return nil, err
	}
	byPackage := map[string]map[string][]byte{}
	for _, p := range l.Packages {
		if byPackage[p.Name], err = download(ctx, roots, p, l.sourcesOf(p.Name), opt); err != nil {
			return nil, err
		}
	}
	out := map[string][]byte{}
	for _, f := range l.Files {
		out[f.Path] = byPackage[f.Package][f.Source]
	}
	return out, nil
}

// ModTime is the modification time of every file Fetch writes.
var ModTime = time.Unix(0, 0)

// Fetch downloads the lock's packages, checks each .deb and each file
// against the lock and writes the files below dir (DIR/<path>, mode
// 0644, modification time ModTime), each atomically. Nothing is written
// unless every file checks out.
func Fetch(ctx context.Context, l *Lock, dir string, opt Options) error {
	data, err := l.contents(ctx, opt)
	if err != nil {
		return err
	}
	for _, f := range l.Files {
		if got := sum(data[f.Path]); got != f.SHA256 {
			return fmt.Errorf("bootloader: %s (%s of %s): sha256 %s, the lock has %s", f.Path, f.Source, f.Package, got, f.SHA256)
		}
	}
	for _, f := range l.Files {
		if err := writeFile(filepath.Join(dir, filepath.FromSlash(f.Path)), data[f.Path]); err != nil {
			return err
		}
	}
	return nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// writeFile writes b to name atomically with mode 0644 and ModTime.
func writeFile(name string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return fmt.Errorf("bootloader: %w", err)
	}
	f, err := outfile.Create(name, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("bootloader: %s: %w", name, err)
	}
	if err := os.Chtimes(f.Name(), ModTime, ModTime); err != nil {
		return fmt.Errorf("bootloader: %s: %w", name, err)
	}
	return f.Commit()
}

// BumpOptions says where a bump looks.
type BumpOptions struct {
	Options
	TmpDir string // scratch directory for the downloaded indexes ("" for $TMPDIR)
}

// Change is what a bump did to one package.
type Change struct {
	Name     string
	Old, New string // versions ("" when the old lock had none)
}

// Bump re-resolves each package of the lock file name to the newest
// version (Debian order) the archive lists for the lock's architecture
// (or the one the package names), downloads it, hashes its files and
// rewrites the lock. The old lock needs only its source, package names
// and files (path, package, source): versions and checksums may be
// empty, which is how a package or file is added.
func Bump(ctx context.Context, name string, opt BumpOptions) (*Lock, []Change, error) {
	old, err := decodeLock(name)
	if err != nil {
		return nil, nil, err
	}
	if err := old.validateShape(); err != nil {
		return nil, nil, fmt.Errorf("bootloader: lock %s: %w", name, err)
	}
	idx, err := base.FetchArchiveIndex(opt.AptRoot, old.Debian, opt.TmpDir)
	if err != nil {
		return nil, nil, err
	}
	suites, err := hostSuites(opt.AptRoot, old.Debian)
	if err != nil {
		return nil, nil, err
	}
	l, changes, err := relock(ctx, old, idx, suites, opt.Options)
	if err != nil {
		return nil, nil, err
	}
	if err := WriteLock(name, l); err != nil {
		return nil, nil, err
	}
	return l, changes, nil
}

// relock makes the lock of old's packages at the newest versions idx
// lists, with suites, downloading them to hash their files.
func relock(ctx context.Context, old *Lock, idx *base.ArchiveIndex, suites []string, opt Options) (*Lock, []Change, error) {
	l := &Lock{Format: LockFormat, Debian: old.Debian, Files: append([]File(nil), old.Files...)}
	l.Debian.Suites = suites
	var changes []Change
	for _, p := range old.Packages {
		archs := []string{old.Debian.Architecture, "all"}
		if p.Architecture != "" {
			archs = []string{p.Architecture}
		}
		n, ok := idx.Newest(p.Name, archs...)
		if !ok {
			return nil, nil, fmt.Errorf("bootloader: the archive lists no %s for %s in %s", p.Name, strings.Join(archs, " or "), strings.Join(suites, ", "))
		}
		l.Packages = append(l.Packages, Package{Name: p.Name, Version: n.Version, Architecture: n.Architecture, SHA256: n.SHA256, Filename: n.Filename})
		changes = append(changes, Change{Name: p.Name, Old: p.Version, New: n.Version})
	}
	data, err := l.contents(ctx, opt)
	if err != nil {
		return nil, nil, err
	}
	for i := range l.Files {
		l.Files[i].SHA256 = sum(data[l.Files[i].Path])
	}
	return l, changes, nil
}

// hostSuites lists the suites the host's apt sources offer for d (sorted),
// as base image bumps record them.
func hostSuites(aptRoot string, d base.Debian) ([]string, error) {
	if aptRoot == "" {
		aptRoot = "/"
	}
	sources, err := base.HostSources(aptRoot, d.Suite, d.Components)
	if err != nil {
		return nil, err
	}
	return base.Suites(sources), nil
}
