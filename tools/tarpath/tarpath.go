// Package tarpath validates and canonicalises the names found in tar and OCI
// layer entries. Every tool that reads an untrusted tar calls it, so hostile
// input ("../" paths, absolute paths, hard links leaving the tree, NUL bytes)
// is rejected the same way everywhere, with an error naming the entry.
//
// Canonical names are relative, slash-separated, without "." or ".."
// components and without a trailing slash; the root directory is "".
package tarpath

import (
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
)

// ErrUnsafe is wrapped by every error this package returns.
var ErrUnsafe = errors.New("unsafe path")

// MaxNameLen is the longest single path component accepted (the ext4 and
// VFAT limit).
const MaxNameLen = 255

// MaxPathLen is the longest canonical name accepted, in bytes: the
// absolute path "/" + name with its terminating NUL then fits in the
// kernel's PATH_MAX (4096), so every accepted name can be opened as one
// path on the mounted filesystem. It also bounds the depth of a tree at
// 2047 levels, which keeps the work of the tools that write every parent
// directory (whose output holds each one's full name) proportionate.
const MaxPathLen = 4094

// Clean returns the canonical form of a tar entry name. A leading "./" and
// a trailing "/" are removed, as are empty and "." components. Absolute
// names, ".." components, NUL bytes, components longer than MaxNameLen and
// canonical names longer than MaxPathLen are rejected. It takes time and
// memory linear in len(name), and a name already canonical is returned
// without a copy.
func Clean(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %s: contains a NUL byte", ErrUnsafe, Quote(name))
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: %s: absolute path", ErrUnsafe, Quote(name))
	}
	// Until a component is dropped the canonical name is name[:size];
	// from then on it is built in b.
	var b []byte
	size := 0
	for rest := name; ; {
		p, tail, more := strings.Cut(rest, "/")
		switch p {
		case "", ".":
			if b == nil {
				b = append(make([]byte, 0, len(name)), name[:size]...)
			}
		case "..":
			return "", fmt.Errorf("%w: %s: contains a \"..\" component", ErrUnsafe, Quote(name))
		default:
			if len(p) > MaxNameLen {
				return "", fmt.Errorf("%w: %s: component longer than %d bytes", ErrUnsafe, Quote(name), MaxNameLen)
			}
			if size > 0 {
				size++
			}
			size += len(p)
			if size > MaxPathLen {
				return "", fmt.Errorf("%w: %s: path longer than %d bytes (PATH_MAX)", ErrUnsafe, Quote(name), MaxPathLen)
			}
			if b != nil {
				if len(b) > 0 {
					b = append(b, '/')
				}
				b = append(b, p...)
			}
		}
		if !more {
			break
		}
		rest = tail
	}
	if b == nil {
		return name, nil // every component was kept: name is canonical
	}
	return string(b), nil
}

// quoteMax is the length above which Quote shortens a name.
const quoteMax = 256

// Quote returns name quoted for an error message, like %q. A name longer
// than 256 bytes is shortened to its first and last 100 bytes around the
// count of bytes left out, so a hostile name cannot blow up a message.
func Quote(name string) string {
	if len(name) <= quoteMax {
		return strconv.Quote(name)
	}
	const keep = 100
	return fmt.Sprintf("%q...(%d bytes)...%q", name[:keep], len(name)-2*keep, name[len(name)-keep:])
}

// CleanHardlink returns the canonical form of a hard link's target. Hard link
// targets name another entry of the same archive, so they obey the same
// rules as entry names and must not be the root itself.
func CleanHardlink(entry, target string) (string, error) {
	t, err := Clean(target)
	if err != nil {
		return "", fmt.Errorf("%w: hard link %q: target escapes the tree: %v", ErrUnsafe, entry, err)
	}
	if t == "" {
		return "", fmt.Errorf("%w: hard link %q: target is the root directory", ErrUnsafe, entry)
	}
	return t, nil
}

// CheckSymlink validates a symlink target. Targets are kept verbatim (an
// absolute or climbing relative target is resolved by the kernel inside the
// mounted filesystem, so it cannot leave it); only empty targets, NUL bytes
// and targets longer than a block (4096 bytes) are rejected.
func CheckSymlink(entry, target string) error {
	switch {
	case target == "":
		return fmt.Errorf("%w: symlink %q: empty target", ErrUnsafe, entry)
	case strings.IndexByte(target, 0) >= 0:
		return fmt.Errorf("%w: symlink %q: target contains a NUL byte", ErrUnsafe, entry)
	case len(target) >= 4096:
		return fmt.Errorf("%w: symlink %q: target of %d bytes is too long", ErrUnsafe, entry, len(target))
	}
	return nil
}

// Prefixes iterates over the components of a canonical name, yielding for
// each the name up to and including it, and the component: "a/b" yields
// ("a", "a") then ("a/b", "b"); the root yields nothing. Both are
// substrings of name, so a walk down a tree costs time linear in len(name)
// and no allocation.
func Prefixes(name string) iter.Seq2[string, string] {
	return func(yield func(prefix, component string) bool) {
		for end := 0; end < len(name); {
			start := end
			if start > 0 {
				start++ // past the '/'
			}
			c, _, _ := strings.Cut(name[start:], "/")
			end = start + len(c)
			if !yield(name[:end], c) {
				return
			}
		}
	}
}

// Parent returns the canonical parent of a canonical name ("" for top-level
// entries and for the root).
func Parent(name string) string {
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		return name[:i]
	}
	return ""
}

// Less orders canonical names so that a directory comes before everything
// inside it and siblings are in byte order: it compares component by
// component. Sorting with Less gives the "parents first, sorted" order of
// normalized tars.
func Less(a, b string) bool {
	for {
		if a == b {
			return false
		}
		if a == "" {
			return true
		}
		if b == "" {
			return false
		}
		ai, bi := strings.IndexByte(a, '/'), strings.IndexByte(b, '/')
		ah, bh := a, b
		if ai >= 0 {
			ah = a[:ai]
		}
		if bi >= 0 {
			bh = b[:bi]
		}
		if ah != bh {
			return ah < bh
		}
		if ai < 0 {
			return true // a is a prefix directory of b
		}
		if bi < 0 {
			return false
		}
		a, b = a[ai+1:], b[bi+1:]
	}
}
