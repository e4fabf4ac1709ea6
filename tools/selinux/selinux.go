// Package selinux matches paths against an SELinux file_contexts file the
// way libselinux's file backend (selabel_lookup, matchpathcon; libselinux
// 3.4 as in Debian bookworm) does, so images can be labelled at build time
// without a policy, a kernel or root.
//
// The rules replicated from libselinux's label_file:
//
//   - Each line is "REGEX [TYPE] CONTEXT"; '#' starts a comment line.
//     TYPE is one of -- (regular file), -d, -l, -b, -c, -p, -s; without it
//     the spec matches every file type. CONTEXT "<<none>>" means "do not
//     label": a lookup that lands on it reports no context.
//   - The regular expression is anchored as "^" + REGEX + "$" (textually,
//     so a top-level alternation binds as in libselinux).
//   - Specs whose regex has no meta character (. ^ $ ? * + | [ ( {, with
//     a backslash escaping the next character) are "exact" and are moved,
//     in file order, after all regex specs. A lookup scans the sorted list
//     from the end and takes the first match: the last exact spec wins,
//     then the last regex spec.
//   - Stems: a spec whose text up to the second '/' has no meta character
//     has that text as stem and only matches paths with the same first
//     component; its remaining regex is matched against the rest of the
//     path. Other specs match the whole path.
//   - Two specs with the same regex and overlapping types but different
//     contexts are an error, as libselinux rejects such a file.
//
// Regexes are PCRE in libselinux and RE2 (Go regexp) here; the syntax
// used in file_contexts files is common to both. A regex Go cannot
// compile is reported as an error naming the line. The .homedirs, .local
// and .subs companion files are not read.
package selinux

import (
	"bufio"
	"fmt"
	"io"
	"regexp"
	"strings"
)

// File type bits (as in stat.st_mode) used for type qualifiers.
const (
	ModeRegular  = 0o100000
	ModeDir      = 0o040000
	ModeSymlink  = 0o120000
	ModeBlock    = 0o060000
	ModeChar     = 0o020000
	ModeFifo     = 0o010000
	ModeSocket   = 0o140000
	modeTypeMask = 0o170000
)

var typeQualifiers = map[string]uint32{
	"--": ModeRegular,
	"-d": ModeDir,
	"-l": ModeSymlink,
	"-b": ModeBlock,
	"-c": ModeChar,
	"-p": ModeFifo,
	"-s": ModeSocket,
}

const none = "<<none>>"

type spec struct {
	regex   string // as written
	stem    string // "" when the spec has no stem
	re      *regexp.Regexp
	mode    uint32 // 0: any type
	context string
	line    int
	meta    bool
}

// Contexts is a parsed file_contexts file.
type Contexts struct {
	specs []spec // regex specs first, then exact specs, each in file order
}

// hasMeta reports whether s has a regex meta character (libselinux's
// spec_hasMetaChars).
func hasMeta(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', '^', '$', '?', '*', '+', '|', '[', '(', '{':
			return true
		case '\\':
			i++
		}
	}
	return false
}

// stemOf is libselinux's get_stem_from_spec / get_stem_from_file_name:
// the text before the second '/', if any (for specs: and free of meta
// characters).
func stemOf(s string, spec bool) string {
	if len(s) < 1 {
		return ""
	}
	i := strings.IndexByte(s[1:], '/')
	if i < 0 {
		return ""
	}
	stem := s[:i+1]
	if spec && strings.ContainsAny(stem, ".^$?*+|[({") {
		return ""
	}
	return stem
}

// Parse reads a file_contexts file; name is used in error messages.
func Parse(r io.Reader, name string) (*Contexts, error) {
	var all []spec
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lineno := 0
	for sc.Scan() {
		lineno++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f := strings.Fields(line)
		s := spec{line: lineno}
		switch len(f) {
		case 2:
			s.regex, s.context = f[0], f[1]
		case 3:
			m, ok := typeQualifiers[f[1]]
			if !ok {
				return nil, fmt.Errorf("selinux: %s:%d: invalid file type %q", name, lineno, f[1])
			}
			s.regex, s.mode, s.context = f[0], m, f[2]
		default:
			return nil, fmt.Errorf("selinux: %s:%d: want \"REGEX [TYPE] CONTEXT\", got %d fields", name, lineno, len(f))
		}
		s.meta = hasMeta(s.regex)
		s.stem = stemOf(s.regex, true)
		re, err := regexp.Compile("^" + s.regex[len(s.stem):] + "$")
		if err != nil {
			return nil, fmt.Errorf("selinux: %s:%d: regex %q: %v", name, lineno, s.regex, err)
		}
		s.re = re
		all = append(all, s)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("selinux: %s: %w", name, err)
	}
	for i := range all {
		for j := i + 1; j < len(all); j++ {
			a, b := &all[i], &all[j]
			if a.regex == b.regex && (a.mode == 0 || b.mode == 0 || a.mode == b.mode) && a.context != b.context {
				return nil, fmt.Errorf("selinux: %s: lines %d and %d: multiple different specifications for %q", name, a.line, b.line, a.regex)
			}
		}
	}
	c := &Contexts{specs: make([]spec, 0, len(all))}
	for _, s := range all {
		if s.meta {
			c.specs = append(c.specs, s)
		}
	}
	for _, s := range all {
		if !s.meta {
			c.specs = append(c.specs, s)
		}
	}
	return c, nil
}

// Lookup returns the context for path (absolute) of file type mode (the
// S_IFMT bits; 0 matches specs of every type). ok is false when no spec
// matches or the matching spec says <<none>>.
func (c *Contexts) Lookup(path string, mode uint32) (context string, ok bool) {
	ctx, found := c.match(path, mode)
	if !found || ctx == none {
		return "", false
	}
	return ctx, true
}

// match returns the context of the winning spec, "<<none>>" included.
func (c *Contexts) match(path string, mode uint32) (string, bool) {
	for strings.Contains(path, "//") {
		path = strings.ReplaceAll(path, "//", "/")
	}
	mode &= modeTypeMask
	fileStem := stemOf(path, false)
	for i := len(c.specs) - 1; i >= 0; i-- {
		s := &c.specs[i]
		if s.stem != "" && s.stem != fileStem {
			continue
		}
		if mode != 0 && s.mode != 0 && mode != s.mode {
			continue
		}
		if !s.re.MatchString(path[len(s.stem):]) {
			continue
		}
		return s.context, true
	}
	return "", false
}

// Label implements ext4.Labeler.
func (c *Contexts) Label(path string, mode uint32) (string, bool) { return c.Lookup(path, mode) }
