package base

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Source is one apt source of the building host, in one-line form.
type Source struct {
	URI        string
	Suite      string
	Components []string
	SignedBy   string
}

// Line renders the source as a one-line apt entry (mmdebstrap accepts it
// as a mirror argument).
func (s Source) Line() string {
	opt := ""
	if s.SignedBy != "" {
		opt = "[signed-by=" + s.SignedBy + "] "
	}
	return fmt.Sprintf("deb %s%s %s %s", opt, s.URI, s.Suite, strings.Join(s.Components, " "))
}

// HostSources reads the apt sources of the host rooted at root ("/" for
// the running system): etc/apt/sources.list and etc/apt/sources.list.d/
// *.list (one-line format) and *.sources (deb822). It keeps the "deb"
// entries for suite and its "<suite>-*" companions (updates, security)
// restricted to components, so the mirror's address is read at run time
// and never written into the repository.
func HostSources(root, suite string, components []string) ([]Source, error) {
	var files []string
	main := filepath.Join(root, "etc/apt/sources.list")
	if _, err := os.Stat(main); err == nil {
		files = append(files, main)
	}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d", pat))
		files = append(files, m...)
	}
	sort.Strings(files)
	var all []Source
	for _, f := range files {
		var src []Source
		var err error
		if strings.HasSuffix(f, ".sources") {
			src, err = parseDeb822(f)
		} else {
			src, err = parseOneLine(f)
		}
		if err != nil {
			return nil, err
		}
		all = append(all, src...)
	}
	want := map[string]bool{}
	for _, c := range components {
		want[c] = true
	}
	var out []Source
	for _, s := range all {
		if s.Suite != suite && !strings.HasPrefix(s.Suite, suite+"-") {
			continue
		}
		var comps []string
		for _, c := range s.Components {
			if want[c] {
				comps = append(comps, c)
			}
		}
		if len(comps) == 0 {
			continue
		}
		s.Components = comps
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("base: the host's apt configuration (%s) has no deb source for %s %s", filepath.Join(root, "etc/apt"), suite, strings.Join(components, ","))
	}
	return out, nil
}

func parseOneLine(name string) ([]Source, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("base: apt sources: %w", err)
	}
	defer f.Close()
	var out []Source
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		fs := strings.Fields(s)
		if len(fs) == 0 || fs[0] != "deb" {
			continue
		}
		fs = fs[1:]
		var signedBy string
		if len(fs) > 0 && strings.HasPrefix(fs[0], "[") {
			var opts []string
			for len(fs) > 0 {
				opts = append(opts, fs[0])
				done := strings.HasSuffix(fs[0], "]")
				fs = fs[1:]
				if done {
					break
				}
			}
			for _, o := range strings.Fields(strings.Trim(strings.Join(opts, " "), "[]")) {
				if v, ok := strings.CutPrefix(o, "signed-by="); ok {
					signedBy = v
				}
			}
		}
		if len(fs) < 3 {
			return nil, fmt.Errorf("base: %s:%d: malformed apt source line", name, line)
		}
		out = append(out, Source{URI: fs[0], Suite: fs[1], Components: fs[2:], SignedBy: signedBy})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("base: apt sources: %s: %w", name, err)
	}
	return out, nil
}

func parseDeb822(name string) ([]Source, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("base: apt sources: %w", err)
	}
	var out []Source
	for _, stanza := range strings.Split(string(b), "\n\n") {
		fields := map[string]string{}
		key := ""
		for _, l := range strings.Split(stanza, "\n") {
			if strings.HasPrefix(l, "#") || strings.TrimSpace(l) == "" {
				continue
			}
			if (l[0] == ' ' || l[0] == '\t') && key != "" {
				fields[key] += "\n" + strings.TrimSpace(l)
				continue
			}
			k, v, ok := strings.Cut(l, ":")
			if !ok {
				return nil, fmt.Errorf("base: %s: malformed line %q", name, l)
			}
			key = strings.ToLower(strings.TrimSpace(k))
			fields[key] = strings.TrimSpace(v)
		}
		if len(fields) == 0 || strings.EqualFold(fields["enabled"], "no") {
			continue
		}
		if !contains(strings.Fields(fields["types"]), "deb") {
			continue
		}
		signed := fields["signed-by"]
		if strings.Contains(signed, "\n") {
			signed = "" // an inline key cannot be passed on one line; apt's keyring is used
		}
		for _, uri := range strings.Fields(fields["uris"]) {
			for _, suite := range strings.Fields(fields["suites"]) {
				out = append(out, Source{URI: uri, Suite: suite, Components: strings.Fields(fields["components"]), SignedBy: signed})
			}
		}
	}
	return out, nil
}

// Suites lists the suites of sources, sorted, each once: what a lock
// records as its "suites".
func Suites(sources []Source) []string {
	var suites []string
	for _, s := range sources {
		if !contains(suites, s.Suite) {
			suites = append(suites, s.Suite)
		}
	}
	sort.Strings(suites)
	return suites
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
