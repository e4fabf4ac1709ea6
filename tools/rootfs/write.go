package rootfs

import (
	"archive/tar"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// WriteOptions controls how Write renders the tree.
type WriteOptions struct {
	// MTime, when not nil, replaces the modification time of every entry
	// (seconds since the Unix epoch).
	MTime *int64
	// Exclude lists path.Match patterns over entry names (relative, no
	// leading "/"); an entry matching one is left out with everything
	// below it. For example "run/*" keeps /run itself but not its contents.
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

// checkPatterns validates path.Match patterns.
func checkPatterns(exclude []string) error {
	for _, pat := range exclude {
		if _, err := path.Match(strings.TrimPrefix(pat, "/"), ""); err != nil {
			return fmt.Errorf("rootfs: exclude pattern %q: %w", pat, err)
		}
	}
	return nil
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

func excluded(p string, patterns []string) bool {
	for _, pat := range patterns {
		if ok, _ := path.Match(strings.TrimPrefix(pat, "/"), p); ok {
			return true
		}
	}
	return false
}

// Write writes the tree as a tar stream: parents first in tarpath.Less
// order, numeric owners only, no atime/ctime, directories named with a
// trailing "/". Of each group of hard-linked names the first in that order
// is written as the regular file and the others as links to it.
func (t *Tree) Write(w io.Writer, opt WriteOptions) (Stats, error) {
	var st Stats
	if err := checkPatterns(opt.Exclude); err != nil {
		return st, err
	}
	first := map[*inode]string{}
	tw := tar.NewWriter(w)
	err := t.visit(opt.Exclude, opt.Only, func(name string, n *node) (bool, error) {
		ino := n.ino
		mtime := ino.mtime
		if opt.MTime != nil {
			mtime = *opt.MTime
		}
		h := &tar.Header{
			Typeflag: ino.typ,
			Name:     name,
			Mode:     ino.mode,
			Uid:      ino.uid,
			Gid:      ino.gid,
			ModTime:  time.Unix(mtime, 0).UTC(),
			Devmajor: ino.devmajor,
			Devminor: ino.devminor,
		}
		if len(ino.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range ino.xattrs {
				h.PAXRecords[k] = v
			}
		}
		switch ino.typ {
		case tar.TypeDir:
			h.Name += "/"
		case tar.TypeSymlink:
			h.Linkname = ino.linkname
		}
		if ino.typ != tar.TypeDir {
			if f, ok := first[ino]; ok {
				h = &tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: f,
					Mode: ino.mode, Uid: ino.uid, Gid: ino.gid, ModTime: h.ModTime}
				st.Hardlinks++
			} else {
				first[ino] = name
				if ino.typ == tar.TypeReg {
					h.Size = ino.size
				}
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return false, fmt.Errorf("rootfs: write %q: %w", name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if t.buf == nil {
				t.buf = make([]byte, 1<<20)
			}
			if _, err := io.CopyBuffer(struct{ io.Writer }{tw}, struct{ io.Reader }{t.open(ino)}, t.buf); err != nil {
				return false, fmt.Errorf("rootfs: write %q: %w", name, err)
			}
			st.Files++
			st.Bytes += ino.size
		}
		st.Entries++
		return true, nil
	})
	if err != nil {
		return st, err
	}
	if err := tw.Close(); err != nil {
		return st, fmt.Errorf("rootfs: write: %w", err)
	}
	return st, nil
}
