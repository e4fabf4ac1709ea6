package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/icos-build/icos/tools/tarpath"
)

// WriteOptions controls how Write renders the tree.
type WriteOptions struct {
	// ModTime, when not nil, replaces the modification time of every entry
	// (seconds since the Unix epoch).
	ModTime *int64
	// Exclude lists path.Match patterns over entry names (relative, no
	// leading "/" or "./", no trailing "/"; a leading "/" or "./" and a
	// trailing "/" of a pattern are ignored); an entry matching one is left
	// out with everything below it. For example "run/*" keeps /run itself
	// but not its contents, "run" drops both, "*.pyc" drops top-level
	// .pyc files only ("*" does not match "/").
	Exclude []string
	// Only, when not empty, keeps just these directories (relative names)
	// with everything below them, and their parents: e.g. "boot" for a tar
	// of /boot alone.
	Only []string
}

// Stats describes a written tree.
type Stats struct {
	Entries   int   // tar entries written
	Files     int   // regular files (hard links not counted)
	Hardlinks int   // hard link entries
	Bytes     int64 // regular file data
}

// cleanPatterns checks exclude patterns and returns them in the form
// they are matched in: a leading "./" or "/" and a trailing "/" removed.
func cleanPatterns(exclude []string) ([]string, error) {
	var out []string
	for _, pat := range exclude {
		g := strings.TrimLeft(strings.TrimPrefix(pat, "./"), "/")
		g = strings.TrimRight(g, "/")
		if _, err := path.Match(g, ""); err != nil || g == "" {
			return nil, fmt.Errorf("rootfs: bad exclude pattern %q", pat)
		}
		out = append(out, g)
	}
	return out, nil
}

// visit calls f for the tree's entries in tarpath.Less order (parents
// first, siblings in byte order) with each one's canonical name, leaving
// out excluded subtrees and, when f returns false, the subtree of that
// entry. Names are built in one buffer along the walk, so memory stays
// linear in the size of the tree however deep it is; only the names handed
// to f are new strings.
func (t *Tree) visit(exclude, only []string, f func(name string, n *node) (descend bool, err error)) error {
	var buf []byte
	var rec func(n *node) error
	rec = func(n *node) error {
		for _, name := range sortedChildren(n) {
			mark := len(buf)
			if mark > 0 {
				buf = append(buf, '/')
			}
			buf = append(buf, name...)
			p := string(buf)
			if !excluded(p, exclude) && kept(p, only) {
				c := n.children[name]
				descend, err := f(p, c)
				if err != nil {
					return err
				}
				if descend && c.children != nil {
					if err := rec(c); err != nil {
						return err
					}
				}
			}
			buf = buf[:mark]
		}
		return nil
	}
	return rec(t.root)
}

// kept reports whether p is inside, or a parent of, one of the only
// directories (always true when only is empty).
func kept(p string, only []string) bool {
	if len(only) == 0 {
		return true
	}
	for _, d := range only {
		d = strings.Trim(d, "/")
		if p == d || strings.HasPrefix(p, d+"/") || strings.HasPrefix(d, p+"/") {
			return true
		}
	}
	return false
}

// excluded reports whether the name p matches a (clean) pattern.
func excluded(p string, patterns []string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(pat, p); ok {
			return true
		}
	}
	return false
}

// Write writes the tree as a tar stream in the normal form: parents
// first in tarpath.Less order, directories named with a trailing "/" (the
// root, "./", only when Normalize read it from its archive), numeric
// owners only, permission bits with setuid, setgid and sticky, no
// atime/ctime, extended attributes as SCHILY.xattr.* PAX records and no
// other PAX record; archive/tar picks the header format of each entry
// (ustar unless a name, id or size needs PAX). Of each group of
// hard-linked names the first in that order is written as the file and the
// others as links to it.
func (t *Tree) Write(w io.Writer, opt WriteOptions) (Stats, error) {
	var st Stats
	exclude, err := cleanPatterns(opt.Exclude)
	if err != nil {
		return st, err
	}
	if t.buf == nil {
		t.buf = make([]byte, ioBuf)
	}
	first := map[*inode]string{}
	tw := tar.NewWriter(w)
	emit := func(name string, n *node) (bool, error) {
		ino := n.ino
		modTime := ino.modTime
		if opt.ModTime != nil {
			modTime = *opt.ModTime
		}
		h := &tar.Header{
			Typeflag: ino.typ,
			Name:     name,
			Mode:     ino.mode,
			Uid:      ino.uid,
			Gid:      ino.gid,
			ModTime:  time.Unix(modTime, 0).UTC(),
		}
		if f, ok := first[ino]; ok {
			h.Typeflag, h.Linkname = tar.TypeLink, f
			st.Hardlinks++
		} else {
			if ino.typ != tar.TypeDir {
				first[ino] = name
			}
			switch ino.typ {
			case tar.TypeDir:
				h.Name += "/"
				if name == "" {
					h.Name = "./"
				}
			case tar.TypeReg:
				h.Size = ino.size
			case tar.TypeSymlink:
				h.Linkname = ino.linkname
			}
			h.Devmajor, h.Devminor = ino.devmajor, ino.devminor
			if len(ino.xattrs) > 0 {
				h.PAXRecords = make(map[string]string, len(ino.xattrs))
				for k, v := range ino.xattrs {
					h.PAXRecords[k] = v
				}
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return false, fmt.Errorf("rootfs: write %s: %w", tarpath.Quote(h.Name), err)
		}
		if h.Typeflag == tar.TypeReg {
			k, err := io.CopyBuffer(struct{ io.Writer }{tw}, struct{ io.Reader }{t.open(ino)}, t.buf)
			if err == nil && k != ino.size {
				err = fmt.Errorf("input changed while normalizing: read %d of %d bytes", k, ino.size)
			}
			if err != nil {
				return false, fmt.Errorf("rootfs: write %s: %w", tarpath.Quote(h.Name), err)
			}
			st.Files++
			st.Bytes += ino.size
		}
		st.Entries++
		return true, nil
	}
	if t.root.named {
		if _, err := emit("", t.root); err != nil {
			return st, err
		}
	}
	if err := t.visit(exclude, opt.Only, emit); err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("rootfs: write: %w", err)
	}
	return st, nil
}
