package rootfs

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/icos-build/icos/tools/tarpath"
)

// Spec is the declarative layer applied on top of a base image: the
// replacement of a Dockerfile. Paths inside the image may be written with
// or without a leading "/"; Files[].Src paths are relative to the base
// directory given to ApplySpec. The JSON format is documented in
// tools/rootfs/README.md. Steps run in the order of the fields below.
type Spec struct {
	Remove     []string   `json:"remove,omitempty"`      // path.Match patterns; matching entries are removed with everything below them
	Dirs       []Dir      `json:"dirs,omitempty"`        // directories (created or their metadata replaced)
	Files      []File     `json:"files,omitempty"`       // regular files copied from the base directory
	Symlinks   []Symlink  `json:"symlinks,omitempty"`    // symbolic links (replace what is there)
	Groups     []Group    `json:"groups,omitempty"`      // groups added to /etc/group and /etc/gshadow
	Users      []User     `json:"users,omitempty"`       // users added to /etc/passwd and /etc/shadow
	Passwords  []Password `json:"passwords,omitempty"`   // password hashes set in /etc/shadow for existing users
	Units      []string   `json:"units,omitempty"`       // systemd units enabled as `systemctl enable` would
	Hostname   *string    `json:"hostname,omitempty"`    // content of /etc/hostname (newline added)
	Hosts      *string    `json:"hosts,omitempty"`       // content of /etc/hosts
	ResolvConf *string    `json:"resolv_conf,omitempty"` // content of /etc/resolv.conf
}

// Mode is a permission mode written in JSON as an octal string ("0755").
type Mode int64

// UnmarshalJSON accepts an octal string such as "0644" or "4755".
func (m *Mode) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("mode must be an octal string like \"0644\": %s", b)
	}
	v, err := strconv.ParseInt(s, 8, 64)
	if err != nil || v < 0 || v > 0o7777 {
		return fmt.Errorf("mode %q: want an octal string between 0000 and 7777", s)
	}
	*m = Mode(v)
	return nil
}

// MarshalJSON writes the mode as a four-digit octal string.
func (m Mode) MarshalJSON() ([]byte, error) { return json.Marshal(fmt.Sprintf("%04o", int64(m))) }

// Owner is a numeric owner.
type Owner struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Dir is a directory of the spec.
type Dir struct {
	Path string `json:"path"`
	Mode Mode   `json:"mode"`
	Owner
}

// File is a regular file copied from Src (relative to the base directory).
type File struct {
	Src  string `json:"src"`
	Path string `json:"path"`
	Mode Mode   `json:"mode"`
	Owner
}

// Symlink is a symbolic link. Target is kept verbatim; with TargetOf
// instead, the link points where the existing symlink TargetOf points
// (one hop), written relative to the new link's directory: Debian's
// /vmlinuz -> boot/vmlinuz-V becomes /boot/vmlinuz -> vmlinuz-V.
type Symlink struct {
	Path     string `json:"path"`
	Target   string `json:"target,omitempty"`
	TargetOf string `json:"target_of,omitempty"`
	Owner
}

// Group is a group to add.
type Group struct {
	Name    string   `json:"name"`
	GID     int      `json:"gid"`
	Members []string `json:"members,omitempty"`
}

// User is a user to add. Its password is locked ("!") unless
// PasswordHash (a crypt(3) hash) is given.
type User struct {
	Name         string   `json:"name"`
	UID          int      `json:"uid"`
	GID          int      `json:"gid"`
	Groups       []string `json:"groups,omitempty"` // supplementary groups, which must exist
	Gecos        string   `json:"gecos,omitempty"`
	Home         string   `json:"home"`
	Shell        string   `json:"shell"`
	CreateHome   bool     `json:"create_home,omitempty"` // create Home owned by the user, mode 0755
	PasswordHash string   `json:"password_hash,omitempty"`
}

// Password sets the crypt(3) hash of an existing account in /etc/shadow
// (e.g. root's in a dev image). Only the password field changes; aging
// fields keep their values, so no build date enters the file.
type Password struct {
	User string `json:"user"`
	Hash string `json:"hash"`
}

// ParseSpec reads a JSON spec. Unknown fields are errors.
func ParseSpec(r io.Reader) (*Spec, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var s Spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("rootfs: spec: %w", err)
	}
	if dec.More() {
		return nil, fmt.Errorf("rootfs: spec: trailing data after the JSON object")
	}
	return &s, nil
}

// LoadSpec reads the JSON spec file name.
func LoadSpec(name string) (*Spec, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("rootfs: spec: %w", err)
	}
	defer f.Close()
	s, err := ParseSpec(f)
	if err != nil {
		return nil, fmt.Errorf("%w (in %s)", err, name)
	}
	return s, nil
}

// imagePath canonicalises a path inside the image ("/etc/x" or "etc/x").
func imagePath(p string) (string, error) {
	c, err := tarpath.Clean(strings.TrimPrefix(p, "/"))
	if err != nil {
		return "", err
	}
	if c == "" {
		return "", fmt.Errorf("path %q is the root directory", p)
	}
	return c, nil
}

// ApplySpec applies s on top of the tree. File sources are read from
// baseDir; modTime is the modification time of every entry the spec creates
// or rewrites. Errors name the spec item.
func (t *Tree) ApplySpec(s *Spec, baseDir string, modTime int64) error {
	t.layer++
	if err := t.applySpec(s, baseDir, modTime); err != nil {
		return fmt.Errorf("rootfs: spec: %w", err)
	}
	return nil
}

func (t *Tree) applySpec(s *Spec, baseDir string, modTime int64) error {
	for i, pat := range s.Remove {
		if err := t.remove(pat); err != nil {
			return fmt.Errorf("remove[%d] %q: %w", i, pat, err)
		}
	}
	for i, d := range s.Dirs {
		p, err := imagePath(d.Path)
		if err == nil {
			err = t.put(p, &inode{typ: tar.TypeDir, mode: int64(d.Mode), uid: d.UID, gid: d.GID, modTime: modTime})
		}
		if err != nil {
			return fmt.Errorf("dirs[%d] %q: %w", i, d.Path, err)
		}
	}
	for i, f := range s.Files {
		if err := t.addFile(f, baseDir, modTime); err != nil {
			return fmt.Errorf("files[%d] %q: %w", i, f.Path, err)
		}
	}
	for i, l := range s.Symlinks {
		p, err := imagePath(l.Path)
		target := l.Target
		if err == nil {
			target, err = t.symlinkTarget(p, l)
		}
		if err == nil {
			err = tarpath.CheckSymlink(p, target)
		}
		if err == nil {
			err = t.put(p, &inode{typ: tar.TypeSymlink, mode: 0o777, uid: l.UID, gid: l.GID, linkname: target, modTime: modTime})
		}
		if err != nil {
			return fmt.Errorf("symlinks[%d] %q: %w", i, l.Path, err)
		}
	}
	if err := t.addAccounts(s.Groups, s.Users, modTime); err != nil {
		return err
	}
	if err := t.setPasswords(s.Passwords, modTime); err != nil {
		return err
	}
	for i, u := range s.Units {
		if err := t.enableUnit(u, modTime, map[string]bool{}); err != nil {
			return fmt.Errorf("units[%d] %q: %w", i, u, err)
		}
	}
	hostFiles := []struct {
		name    string
		content *string
	}{{"etc/hostname", s.Hostname}, {"etc/hosts", s.Hosts}, {"etc/resolv.conf", s.ResolvConf}}
	for _, hf := range hostFiles {
		if hf.content == nil {
			continue
		}
		c := *hf.content
		if c != "" && !strings.HasSuffix(c, "\n") {
			c += "\n"
		}
		if err := t.writeFile(hf.name, []byte(c), 0o644, 0, 0, modTime); err != nil {
			return fmt.Errorf("/%s: %w", hf.name, err)
		}
	}
	return nil
}

// symlinkTarget is the target of the link l at canonical path p: l.Target,
// or the target of the symlink l.TargetOf made relative to p's directory.
func (t *Tree) symlinkTarget(p string, l Symlink) (string, error) {
	switch {
	case (l.Target == "") == (l.TargetOf == ""):
		return "", fmt.Errorf("give exactly one of target and target_of")
	case l.Target != "":
		return l.Target, nil
	}
	of, err := imagePath(l.TargetOf)
	if err != nil {
		return "", fmt.Errorf("target_of: %w", err)
	}
	n := t.lookup(of)
	if n == nil || n.ino.typ != tar.TypeSymlink {
		return "", fmt.Errorf("target_of %q: not a symlink in the image", l.TargetOf)
	}
	abs := n.ino.linkname
	if !strings.HasPrefix(abs, "/") {
		abs = path.Join("/", path.Dir(of), abs)
	}
	rel, err := filepath.Rel(path.Join("/", path.Dir(p)), path.Clean(abs))
	if err != nil {
		return "", fmt.Errorf("target_of %q: %w", l.TargetOf, err)
	}
	return filepath.ToSlash(rel), nil
}

// remove deletes every entry matching pattern (and what is below it).
func (t *Tree) remove(pattern string) error {
	pat := strings.TrimPrefix(pattern, "/")
	if _, err := path.Match(pat, ""); err != nil {
		return err
	}
	if strings.Trim(pat, "/") == "" {
		return fmt.Errorf("refusing to remove the root directory")
	}
	return t.visit(nil, nil, func(name string, n *node) (bool, error) {
		if ok, _ := path.Match(pat, name); ok {
			// Everything below goes with it: no need to look there.
			delete(t.lookup(tarpath.Parent(name)).children, path.Base(name))
			return false, nil
		}
		return true, nil
	})
}

func (t *Tree) addFile(f File, baseDir string, modTime int64) error {
	p, err := imagePath(f.Path)
	if err != nil {
		return err
	}
	if f.Src == "" {
		return fmt.Errorf("no src given")
	}
	src := f.Src
	if !filepath.IsAbs(src) {
		src = filepath.Join(baseDir, src)
	}
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("source: %w", err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("source %s is not a regular file", src)
	}
	ino := &inode{typ: tar.TypeReg, mode: int64(f.Mode), uid: f.UID, gid: f.GID, modTime: modTime}
	if ino.off, ino.size, err = t.spoolData(in); err != nil {
		return fmt.Errorf("source %s: %w", src, err)
	}
	if ino.size != st.Size() {
		return fmt.Errorf("source %s changed while it was read", src)
	}
	return t.put(p, ino)
}

// writeFile stores data as regular file p. An existing regular file keeps
// its mode and owner; otherwise mode, uid and gid are used.
func (t *Tree) writeFile(p string, data []byte, mode int64, uid, gid int, modTime int64) error {
	ino := &inode{typ: tar.TypeReg, mode: mode, uid: uid, gid: gid, modTime: modTime}
	if old := t.lookup(p); old != nil && old.ino.typ == tar.TypeReg {
		ino.mode, ino.uid, ino.gid, ino.xattrs = old.ino.mode, old.ino.uid, old.ino.gid, old.ino.xattrs
	}
	var err error
	if ino.off, ino.size, err = t.spoolData(bytes.NewReader(data)); err != nil {
		return err
	}
	return t.put(p, ino)
}

// readFile returns the content of regular file p, following symlinks
// inside the tree; ok is false when there is no such file.
func (t *Tree) readFile(p string) (data []byte, ok bool, err error) {
	n := t.resolve(p)
	if n == nil || n.ino.typ != tar.TypeReg {
		return nil, false, nil
	}
	b, err := io.ReadAll(t.open(n.ino))
	return b, err == nil, err
}

// resolve follows symlinks (absolute or relative, at most 40) along the
// canonical path p and returns its node (nil if it does not exist). ".."
// at the root stays at the root, as in the kernel. It walks down from the
// directories already reached, so the time is linear in the length of p
// and of the link targets.
func (t *Tree) resolve(p string) *node {
	// todo holds the components left, the next one last.
	var todo []string
	push := func(s string) {
		parts := strings.Split(s, "/")
		for i := len(parts) - 1; i >= 0; i-- {
			todo = append(todo, parts[i])
		}
	}
	push(p)
	dirs := []*node{t.root} // the directories from the root down to the current one
	for hops := 0; len(todo) > 0; {
		c := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(dirs) > 1 {
				dirs = dirs[:len(dirs)-1]
			}
			continue
		}
		n := dirs[len(dirs)-1].children[c]
		if n == nil {
			return nil
		}
		if n.ino.typ == tar.TypeSymlink {
			if hops++; hops > 40 {
				return nil
			}
			if strings.HasPrefix(n.ino.linkname, "/") {
				dirs = dirs[:1]
			}
			push(n.ino.linkname)
			continue
		}
		dirs = append(dirs, n)
	}
	return dirs[len(dirs)-1]
}
