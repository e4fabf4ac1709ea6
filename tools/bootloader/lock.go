// Package bootloader pins the boot loader files of the IC-OS images to
// Debian's prebuilt, signed binaries (Secure Boot): each file of the EFI
// system partition is a file of a Debian package, locked by the package's
// version and .deb sha256 and by the file's own sha256, in
// ic-os/bootloader/bootloader.lock.json. Fetch downloads the locked .debs
// from the archive roots of the host's apt sources and writes the files;
// Bump re-resolves the packages to the newest versions the archive lists
// and rewrites the lock. The format and the commands are described in
// README.md beside this file.
package bootloader

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"

	"github.com/icos-build/icos/tools/base"
	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/tarpath"
)

// LockFormat is the version of the lock format this package reads and
// writes.
const LockFormat = 1

// LockPath is where a checkout keeps the lock, relative to the workspace
// root.
const LockPath = "ic-os/bootloader/bootloader.lock.json"

// Lock pins the boot loader files: the Debian packages they come from
// and, for each file, where it goes on the EFI system partition.
type Lock struct {
	Format int `json:"format"`
	// Debian is the package source (suite, suites, components,
	// architecture; never the mirror, which the host's apt configuration
	// gives). Its variant (a base image setting) is not used.
	Debian base.Debian `json:"debian"`
	// Packages are the packages the files come from, sorted by name.
	Packages []Package `json:"packages"`
	// Files are the files written, sorted by path.
	Files []File `json:"files"`
}

// Package is one locked Debian package.
type Package struct {
	Name         string `json:"name"`
	Version      string `json:"version"`
	Architecture string `json:"architecture"`
	SHA256       string `json:"sha256"`   // of the .deb, as the archive's Packages index lists it
	Filename     string `json:"filename"` // the .deb below an archive root, from the index, e.g. pool/main/s/shim-signed/...
}

// File is one file taken from a package.
type File struct {
	Path    string `json:"path"`    // where it is written, e.g. EFI/BOOT/BOOTX64.EFI
	Package string `json:"package"` // the package holding it
	Source  string `json:"source"`  // its path in the package's data.tar, without "./"
	SHA256  string `json:"sha256"`  // of its content
}

var (
	hex64       = regexp.MustCompile(`^[0-9a-f]{64}$`)
	packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)
)

// Validate checks the lock; errors name the field, package or file.
func (l *Lock) Validate() error {
	if err := l.validateShape(); err != nil {
		return err
	}
	for i, p := range l.Packages {
		switch {
		case p.Version == "" || p.Architecture == "":
			return fmt.Errorf("packages[%d] %s: version and architecture are required", i, p.Name)
		case !hex64.MatchString(p.SHA256):
			return fmt.Errorf("packages[%d] %s: sha256 %q is not 64 lowercase hex digits", i, p.Name, p.SHA256)
		case !canonical(p.Filename) || !strings.HasPrefix(p.Filename, "pool/") || !strings.HasSuffix(p.Filename, ".deb"):
			return fmt.Errorf("packages[%d] %s: filename %q is not a pool/.../*.deb path", i, p.Name, p.Filename)
		}
	}
	for i, f := range l.Files {
		if !hex64.MatchString(f.SHA256) {
			return fmt.Errorf("files[%d] %s: sha256 %q is not 64 lowercase hex digits", i, f.Path, f.SHA256)
		}
	}
	return nil
}

// validateShape checks what a lock must have before Bump fills in
// versions and checksums: the source, package names, and files that
// name a package of the lock, each package supplying one at least.
func (l *Lock) validateShape() error {
	d := l.Debian
	switch {
	case l.Format != LockFormat:
		return fmt.Errorf("format %d, want %d", l.Format, LockFormat)
	case d.Suite == "" || len(d.Suites) == 0 || len(d.Components) == 0 || d.Architecture == "":
		return fmt.Errorf("debian: suite, suites, components and architecture are required")
	case d.Variant != "":
		return fmt.Errorf("debian: variant %q: a base image setting, not used here", d.Variant)
	case len(l.Packages) == 0:
		return fmt.Errorf("packages is empty")
	case len(l.Files) == 0:
		return fmt.Errorf("files is empty")
	}
	used := map[string]bool{}
	for i, p := range l.Packages {
		switch {
		case !packageName.MatchString(p.Name):
			return fmt.Errorf("packages[%d]: invalid name %q", i, p.Name)
		case i > 0 && l.Packages[i-1].Name >= p.Name:
			return fmt.Errorf("packages[%d] %s: not sorted or duplicate", i, p.Name)
		}
		used[p.Name] = false
	}
	for i, f := range l.Files {
		_, ok := used[f.Package]
		switch {
		case !canonical(f.Path):
			return fmt.Errorf("files[%d]: path %q is not a clean relative path", i, f.Path)
		case i > 0 && l.Files[i-1].Path >= f.Path:
			return fmt.Errorf("files[%d] %s: not sorted or duplicate", i, f.Path)
		case !ok:
			return fmt.Errorf("files[%d] %s: package %q is not among the packages", i, f.Path, f.Package)
		case !canonical(f.Source):
			return fmt.Errorf("files[%d] %s: source %q is not a clean relative path (without ./)", i, f.Path, f.Source)
		}
		used[f.Package] = true
	}
	for _, p := range l.Packages {
		if !used[p.Name] {
			return fmt.Errorf("package %s supplies no file", p.Name)
		}
	}
	return nil
}

// canonical reports whether name is a non-empty path in tarpath's
// canonical form (relative, no ".", ".." or empty components).
func canonical(name string) bool {
	c, err := tarpath.Clean(name)
	return err == nil && c != "" && c == name
}

// BasePackages returns the packages as tools/base sees them, for
// base.ArchiveIndex.Expired.
func (l *Lock) BasePackages() []base.Package {
	out := make([]base.Package, len(l.Packages))
	for i, p := range l.Packages {
		out[i] = base.Package{Name: p.Name, Version: p.Version, Architecture: p.Architecture, SHA256: p.SHA256}
	}
	return out
}

// ReadLock reads and validates a lock file.
func ReadLock(name string) (*Lock, error) {
	l, err := decodeLock(name)
	if err != nil {
		return nil, err
	}
	if err := l.Validate(); err != nil {
		return nil, fmt.Errorf("bootloader: lock %s: %w", name, err)
	}
	return l, nil
}

// decodeLock decodes a lock file strictly (no unknown fields, nothing
// after the object) without validating it.
func decodeLock(name string) (*Lock, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("bootloader: lock: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var l Lock
	if err := dec.Decode(&l); err != nil {
		return nil, fmt.Errorf("bootloader: lock %s: malformed: %w", name, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("bootloader: lock %s: malformed: data after the JSON object (which ends at byte %d)", name, dec.InputOffset())
	}
	return &l, nil
}

// WriteLock sorts the packages and files, validates the lock and writes
// it atomically as indented JSON; an invalid lock leaves nothing behind.
func WriteLock(name string, l *Lock) error {
	sort.Slice(l.Packages, func(i, j int) bool { return l.Packages[i].Name < l.Packages[j].Name })
	sort.Slice(l.Files, func(i, j int) bool { return l.Files[i].Path < l.Files[j].Path })
	if err := l.Validate(); err != nil {
		return fmt.Errorf("bootloader: lock %s: %w", name, err)
	}
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("bootloader: lock %s: %w", name, err)
	}
	f, err := outfile.Create(name, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("bootloader: lock %s: %w", name, err)
	}
	return f.Commit()
}
