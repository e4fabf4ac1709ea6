package base

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// A lock pins exact versions, and Debian's archive serves only the newest
// version of each package in a suite: a security update to any locked
// package makes the lock unbuildable (no snapshot archive is reachable from
// the machines this project runs on). ArchiveIndex and Expired tell which
// locks that has happened to, before a build fails on it.

// ArchiveIndex is what the archive lists now: every (package, version,
// architecture) with its .deb checksum and pool path.
type ArchiveIndex struct {
	entries  map[debKey]indexEntry
	versions map[string][]string // package name -> versions listed (unique, in Debian order)
}

// newArchiveIndex returns the index of the entries parseIndex read.
func newArchiveIndex(entries map[debKey]indexEntry) *ArchiveIndex {
	idx := &ArchiveIndex{entries: entries, versions: map[string][]string{}}
	for k := range entries {
		if !contains(idx.versions[k.name], k.version) {
			idx.versions[k.name] = append(idx.versions[k.name], k.version)
		}
	}
	for _, v := range idx.versions {
		sort.Slice(v, func(i, j int) bool { return CompareVersions(v[i], v[j]) < 0 })
	}
	return idx
}

// ReadArchiveIndex reads the stanzas of an uncompressed Packages index
// (one or several concatenated) into an ArchiveIndex.
func ReadArchiveIndex(r io.Reader) (*ArchiveIndex, error) {
	e, err := parseIndex(r)
	if err != nil {
		return nil, fmt.Errorf("base: archive index: %w", err)
	}
	return newArchiveIndex(e), nil
}

// Listed is a package version the archive lists, with the path of its
// .deb below the archive root (the index's Filename, e.g.
// "pool/main/a/apt/apt_2.6.1_amd64.deb").
type Listed struct {
	Package
	Filename string
}

// Newest returns the newest version (in Debian order) of the package name
// that the archive lists for one of archs, e.g. ("amd64", "all"); false
// when it lists none.
func (idx *ArchiveIndex) Newest(name string, archs ...string) (Listed, bool) {
	v := idx.versions[name]
	for i := len(v) - 1; i >= 0; i-- {
		for _, a := range archs {
			if e, ok := idx.entries[debKey{name, v[i], a}]; ok {
				return Listed{Package{Name: name, Version: v[i], Architecture: a, SHA256: e.sha256}, e.filename}, true
			}
		}
	}
	return Listed{}, false
}

// Gone is a locked package the archive no longer serves as locked.
type Gone struct {
	Package
	Now []string // versions of the same name the archive lists now (none: the package is gone)
}

// String describes g in one line, e.g. "linux-image-amd64 6.1.192-2 (the
// archive has 6.1.176-1, 6.1.192-3)".
func (g Gone) String() string {
	now := "the archive has no version of it"
	if len(g.Now) > 0 {
		now = "the archive has " + strings.Join(g.Now, ", ")
	}
	return fmt.Sprintf("%s %s (%s)", g.Name, g.Version, now)
}

// Expired lists the packages of pkgs that the archive does not list with
// the same version, architecture and .deb checksum (a rebuilt .deb under
// the old version counts as gone too: the build would refuse it).
func (idx *ArchiveIndex) Expired(pkgs []Package) []Gone {
	var out []Gone
	for _, p := range pkgs {
		if e, ok := idx.entries[debKey{p.Name, p.Version, p.Architecture}]; ok && e.sha256 == p.SHA256 {
			continue
		}
		out = append(out, Gone{Package: p, Now: idx.versions[p.Name]})
	}
	return out
}

// FetchArchiveIndex downloads the current Packages indexes of the host's
// apt sources for suite (and its -updates, -security companions) and
// components, with the host's apt-get into a private state directory under
// tmpDir (the host's own apt state is not touched), and reads them. The
// signatures of the indexes are checked by apt as for any update.
func FetchArchiveIndex(aptRoot string, d Debian, tmpDir string) (*ArchiveIndex, error) {
	if aptRoot == "" {
		aptRoot = "/"
	}
	sources, err := HostSources(aptRoot, d.Suite, d.Components)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(tmpDir, "icos-archive-index-")
	if err != nil {
		return nil, fmt.Errorf("base: archive index: %w", err)
	}
	defer os.RemoveAll(tmp)
	// apt downloads as _apt, which must reach the lists directory.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return nil, fmt.Errorf("base: archive index: %w", err)
	}
	var list bytes.Buffer
	for _, s := range sources {
		fmt.Fprintln(&list, s.Line())
	}
	for _, dir := range []string{"lists/partial", "cache", "parts"} {
		if err := os.MkdirAll(filepath.Join(tmp, dir), 0o755); err != nil {
			return nil, fmt.Errorf("base: archive index: %w", err)
		}
	}
	if err := os.WriteFile(filepath.Join(tmp, "sources.list"), list.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("base: archive index: %w", err)
	}
	opts := []string{
		"-o", "Dir::Etc::SourceList=" + filepath.Join(tmp, "sources.list"),
		"-o", "Dir::Etc::SourceParts=" + filepath.Join(tmp, "parts"),
		"-o", "Dir::State::Lists=" + filepath.Join(tmp, "lists"),
		"-o", "Dir::Cache=" + filepath.Join(tmp, "cache"),
		"-o", "APT::Architecture=" + d.Architecture,
		"-o", "APT::Architectures=" + d.Architecture,
		"-o", "Acquire::Languages=none",
	}
	if out, err := exec.Command("apt-get", append(append([]string{"-q"}, opts...), "update")...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("base: archive index: apt-get update: %w\n%s", err, out)
	}
	names, err := exec.Command("apt-get", append(opts, "indextargets", "--format", "$(FILENAME)", "Created-By: Packages")...).Output()
	if err != nil {
		return nil, fmt.Errorf("base: archive index: apt-get indextargets: %w", err)
	}
	files := strings.Fields(string(names))
	if len(files) == 0 {
		return nil, fmt.Errorf("base: archive index: apt-get update fetched no Packages index for %s", d.Suite)
	}
	entries := map[debKey]indexEntry{}
	for _, f := range files {
		// apt-helper reads the index whatever compression apt kept it in.
		raw, err := exec.Command("/usr/lib/apt/apt-helper", "cat-file", f).Output()
		if err != nil {
			return nil, fmt.Errorf("base: archive index %s: %w", filepath.Base(f), err)
		}
		m, err := parseIndex(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("base: archive index %s: %w", filepath.Base(f), err)
		}
		for k, v := range m {
			entries[k] = v
		}
	}
	return newArchiveIndex(entries), nil
}
