package base

import (
	"bufio"
	"fmt"
	"io"
	"sort"
	"strings"
)

// debKey identifies a binary package version.
type debKey struct{ name, version, arch string }

// indexEntry is what a Packages index says about one package version.
type indexEntry struct {
	sha256   string // of the .deb
	filename string // the .deb's path below the archive root, e.g. pool/main/a/apt/apt_2.6.1_amd64.deb
}

// parseIndex reads apt Packages index stanzas and returns the SHA256 and
// Filename of every (package, version, architecture) listed.
func parseIndex(r io.Reader) (map[debKey]indexEntry, error) {
	out := map[debKey]indexEntry{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var k debKey
	var e indexEntry
	flush := func() {
		if k.name != "" && e.sha256 != "" {
			out[k] = e
		}
		k, e = debKey{}, indexEntry{}
	}
	for sc.Scan() {
		l := sc.Text()
		if l == "" {
			flush()
			continue
		}
		switch {
		case strings.HasPrefix(l, "Package: "):
			k.name = strings.TrimSpace(l[len("Package: "):])
		case strings.HasPrefix(l, "Version: "):
			k.version = strings.TrimSpace(l[len("Version: "):])
		case strings.HasPrefix(l, "Architecture: "):
			k.arch = strings.TrimSpace(l[len("Architecture: "):])
		case strings.HasPrefix(l, "SHA256: "):
			e.sha256 = strings.TrimSpace(l[len("SHA256: "):])
		case strings.HasPrefix(l, "Filename: "):
			e.filename = strings.TrimSpace(l[len("Filename: "):])
		}
	}
	flush()
	return out, sc.Err()
}

// parseInstalled reads `dpkg-query -W -f '${Package}\t${Version}\t${Architecture}\n'`
// output and returns the packages with the .deb checksums from index.
func parseInstalled(r io.Reader, index map[debKey]indexEntry) ([]Package, error) {
	var out []Package
	sc := bufio.NewScanner(r)
	for line := 1; sc.Scan(); line++ {
		fs := strings.Split(sc.Text(), "\t")
		if len(fs) != 3 {
			return nil, fmt.Errorf("installed package list line %d: %q", line, sc.Text())
		}
		p := Package{Name: fs[0], Version: fs[1], Architecture: fs[2]}
		p.SHA256 = index[debKey{p.Name, p.Version, p.Architecture}].sha256
		if p.SHA256 == "" {
			return nil, fmt.Errorf("package %s %s (%s) is installed but not in the archive's Packages index", p.Name, p.Version, p.Architecture)
		}
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// diffPackages describes how got differs from want ("" when equal).
func diffPackages(want, got []Package) string {
	w := map[string]Package{}
	for _, p := range want {
		w[p.Name] = p
	}
	var lines []string
	seen := map[string]bool{}
	for _, p := range got {
		seen[p.Name] = true
		q, ok := w[p.Name]
		switch {
		case !ok:
			lines = append(lines, fmt.Sprintf("+ %s %s (not in lock)", p.Name, p.Version))
		case q.Version != p.Version || q.Architecture != p.Architecture:
			lines = append(lines, fmt.Sprintf("~ %s %s, lock has %s", p.Name, p.Version, q.Version))
		case q.SHA256 != p.SHA256:
			lines = append(lines, fmt.Sprintf("~ %s %s: .deb sha256 %s, lock has %s", p.Name, p.Version, p.SHA256, q.SHA256))
		}
	}
	for _, p := range want {
		if !seen[p.Name] {
			lines = append(lines, fmt.Sprintf("- %s %s (locked, not installed)", p.Name, p.Version))
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}
