// Package base builds the Debian base images of IC-OS: package lists
// (ic-os/<os>/context/packages.common and packages.dev), the lock file
// that pins every resolved package, the mmdebstrap build that turns a lock
// into a one-layer OCI image in the local store, and the bump and verify
// workflows around it. Only the build needs root and network access to the
// Debian mirror configured on the host; everything downstream (rootfs,
// filesystems, disks) reads the image by digest.
package base

import (
	"bufio"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

// validPackage is Debian policy's package name syntax (section 5.6.1).
var validPackage = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// ReadPackageList reads a package list: one Debian package name per line,
// "#" starts a comment, blank lines are ignored. Invalid names and
// duplicates are errors naming the file and line.
func ReadPackageList(name string) ([]string, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("base: package list: %w", err)
	}
	defer f.Close()
	var out []string
	seen := map[string]int{}
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !validPackage.MatchString(s) {
			return nil, fmt.Errorf("base: %s:%d: %q is not a Debian package name", name, line, s)
		}
		if prev, ok := seen[s]; ok {
			return nil, fmt.Errorf("base: %s:%d: %q already listed on line %d", name, line, s, prev)
		}
		seen[s] = line
		out = append(out, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("base: %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("base: %s: no packages listed", name)
	}
	return out, nil
}

// Lists returns the sorted union of the package lists names.
func Lists(names ...string) ([]string, error) {
	set := map[string]bool{}
	for _, n := range names {
		pkgs, err := ReadPackageList(n)
		if err != nil {
			return nil, err
		}
		for _, p := range pkgs {
			set[p] = true
		}
	}
	out := make([]string, 0, len(set))
	for p := range set {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}
