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
	"strings"
)

// ErrUnsafe is wrapped by every error this package returns.
var ErrUnsafe = errors.New("unsafe path")

// MaxNameLen is the longest single path component accepted (the ext4 and
// VFAT limit).
const MaxNameLen = 255

// Clean returns the canonical form of a tar entry name. A leading "./" and
// a trailing "/" are removed, as are empty and "." components. Absolute
// names, ".." components, NUL bytes and components longer than MaxNameLen
// are rejected.
func Clean(name string) (string, error) {
	if strings.IndexByte(name, 0) >= 0 {
		return "", fmt.Errorf("%w: %q: contains a NUL byte", ErrUnsafe, name)
	}
	if strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%w: %q: absolute path", ErrUnsafe, name)
	}
	parts := strings.Split(name, "/")
	out := parts[:0]
	for _, p := range parts {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", fmt.Errorf("%w: %q: contains a \"..\" component", ErrUnsafe, name)
		}
		if len(p) > MaxNameLen {
			return "", fmt.Errorf("%w: %q: component longer than %d bytes", ErrUnsafe, name, MaxNameLen)
		}
		out = append(out, p)
	}
	return strings.Join(out, "/"), nil
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
