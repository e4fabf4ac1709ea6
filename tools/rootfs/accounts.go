package rootfs

import (
	"archive/tar"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// validName is the account name syntax accepted by useradd's default
// NAME_REGEX, plus a trailing "$" for machine accounts.
var validName = regexp.MustCompile(`^[a-z_][a-z0-9_-]*\$?$`)

// accountFile is one of /etc/passwd, group, shadow, gshadow as lines.
type accountFile struct {
	name  string
	mode  int64
	gid   int // default group owner when the file is created
	lines []string
}

func (t *Tree) loadAccountFile(name string, mode int64, gid int) (*accountFile, error) {
	b, _, err := t.readFile(name)
	if err != nil {
		return nil, fmt.Errorf("/%s: %w", name, err)
	}
	f := &accountFile{name: name, mode: mode, gid: gid}
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" {
			f.lines = append(f.lines, l)
		}
	}
	return f, nil
}

// find returns the index of the line for account name, or -1.
func (f *accountFile) find(name string) int {
	for i, l := range f.lines {
		if strings.SplitN(l, ":", 2)[0] == name {
			return i
		}
	}
	return -1
}

// idTaken reports whether field 2 (uid or gid) of some line equals id.
func (f *accountFile) idTaken(id int) string {
	for _, l := range f.lines {
		fs := strings.Split(l, ":")
		if len(fs) > 2 && fs[2] == strconv.Itoa(id) {
			return fs[0]
		}
	}
	return ""
}

// addMember appends user to the member list (field idx) of group's line.
func (f *accountFile) addMember(group, user string, idx int) error {
	i := f.find(group)
	if i < 0 {
		return fmt.Errorf("group %q is not in /%s", group, f.name)
	}
	fs := strings.Split(f.lines[i], ":")
	if len(fs) <= idx {
		return fmt.Errorf("/%s: malformed line for group %q", f.name, group)
	}
	var members []string
	if fs[idx] != "" {
		members = strings.Split(fs[idx], ",")
	}
	for _, m := range members {
		if m == user {
			return nil
		}
	}
	fs[idx] = strings.Join(append(members, user), ",")
	f.lines[i] = strings.Join(fs, ":")
	return nil
}

func (t *Tree) saveAccountFile(f *accountFile, modTime int64) error {
	data := strings.Join(f.lines, "\n") + "\n"
	return t.writeFile(f.name, []byte(data), f.mode, 0, f.gid, modTime)
}

// addAccounts adds groups, then users, editing the four account files the
// way groupadd/useradd would: new lines are appended in spec order, and
// supplementary group memberships are appended to the member lists.
// Existing names or ids are errors. Password aging fields are left empty
// so no build date enters /etc/shadow.
func (t *Tree) addAccounts(groups []Group, users []User, modTime int64) error {
	if len(groups) == 0 && len(users) == 0 {
		return nil
	}
	shadowGID := 0
	if g, err := t.loadAccountFile("etc/group", 0o644, 0); err == nil {
		if i := g.find("shadow"); i >= 0 {
			shadowGID, _ = strconv.Atoi(strings.Split(g.lines[i], ":")[2])
		}
	}
	passwd, err := t.loadAccountFile("etc/passwd", 0o644, 0)
	if err != nil {
		return err
	}
	shadow, err := t.loadAccountFile("etc/shadow", 0o640, shadowGID)
	if err != nil {
		return err
	}
	group, err := t.loadAccountFile("etc/group", 0o644, 0)
	if err != nil {
		return err
	}
	gshadow, err := t.loadAccountFile("etc/gshadow", 0o640, shadowGID)
	if err != nil {
		return err
	}
	for i, g := range groups {
		switch {
		case !validName.MatchString(g.Name):
			return fmt.Errorf("groups[%d]: invalid group name %q", i, g.Name)
		case g.GID < 0:
			return fmt.Errorf("groups[%d] %q: negative gid", i, g.Name)
		case group.find(g.Name) >= 0:
			return fmt.Errorf("groups[%d]: group %q already exists in /etc/group", i, g.Name)
		}
		if other := group.idTaken(g.GID); other != "" {
			return fmt.Errorf("groups[%d] %q: gid %d already used by group %q", i, g.Name, g.GID, other)
		}
		members := strings.Join(g.Members, ",")
		group.lines = append(group.lines, fmt.Sprintf("%s:x:%d:%s", g.Name, g.GID, members))
		gshadow.lines = append(gshadow.lines, fmt.Sprintf("%s:!::%s", g.Name, members))
	}
	for i, u := range users {
		switch {
		case !validName.MatchString(u.Name):
			return fmt.Errorf("users[%d]: invalid user name %q", i, u.Name)
		case u.UID < 0 || u.GID < 0:
			return fmt.Errorf("users[%d] %q: negative uid or gid", i, u.Name)
		case passwd.find(u.Name) >= 0:
			return fmt.Errorf("users[%d]: user %q already exists in /etc/passwd", i, u.Name)
		case strings.ContainsAny(u.Gecos+u.Home+u.Shell+u.PasswordHash, ":\n"):
			return fmt.Errorf("users[%d] %q: fields must not contain ':' or newlines", i, u.Name)
		case !strings.HasPrefix(u.Home, "/") || !strings.HasPrefix(u.Shell, "/"):
			return fmt.Errorf("users[%d] %q: home and shell must be absolute paths", i, u.Name)
		}
		if other := passwd.idTaken(u.UID); other != "" {
			return fmt.Errorf("users[%d] %q: uid %d already used by user %q", i, u.Name, u.UID, other)
		}
		pw := u.PasswordHash
		if pw == "" {
			pw = "!"
		}
		passwd.lines = append(passwd.lines, fmt.Sprintf("%s:x:%d:%d:%s:%s:%s", u.Name, u.UID, u.GID, u.Gecos, u.Home, u.Shell))
		shadow.lines = append(shadow.lines, fmt.Sprintf("%s:%s::0:99999:7:::", u.Name, pw))
		for _, g := range u.Groups {
			if err := group.addMember(g, u.Name, 3); err != nil {
				return fmt.Errorf("users[%d] %q: %w", i, u.Name, err)
			}
			if gshadow.find(g) >= 0 {
				if err := gshadow.addMember(g, u.Name, 3); err != nil {
					return fmt.Errorf("users[%d] %q: %w", i, u.Name, err)
				}
			}
		}
		if u.CreateHome {
			home, err := imagePath(u.Home)
			if err != nil {
				return fmt.Errorf("users[%d] %q: home: %w", i, u.Name, err)
			}
			if err := t.put(home, &inode{typ: tar.TypeDir, mode: 0o755, uid: u.UID, gid: u.GID, modTime: modTime}); err != nil {
				return fmt.Errorf("users[%d] %q: home: %w", i, u.Name, err)
			}
		}
	}
	for _, f := range []*accountFile{passwd, shadow, group, gshadow} {
		if err := t.saveAccountFile(f, modTime); err != nil {
			return fmt.Errorf("/%s: %w", f.name, err)
		}
	}
	return nil
}

// setPasswords replaces the password field of existing /etc/shadow lines.
// A user missing from /etc/shadow, a repeated user or a hash holding ':' or
// a newline is an error.
func (t *Tree) setPasswords(pws []Password, modTime int64) error {
	if len(pws) == 0 {
		return nil
	}
	if _, ok, _ := t.readFile("etc/shadow"); !ok {
		return fmt.Errorf("passwords: the image has no /etc/shadow")
	}
	f, err := t.loadAccountFile("etc/shadow", 0o640, 0)
	if err != nil {
		return err
	}
	seen := map[string]bool{}
	for i, p := range pws {
		switch {
		case seen[p.User]:
			return fmt.Errorf("passwords[%d]: user %q given twice", i, p.User)
		case p.Hash == "" || strings.ContainsAny(p.Hash, ":\n"):
			return fmt.Errorf("passwords[%d] %q: hash must be non-empty without ':' or newlines", i, p.User)
		}
		seen[p.User] = true
		idx := f.find(p.User)
		if idx < 0 {
			return fmt.Errorf("passwords[%d]: user %q is not in /etc/shadow", i, p.User)
		}
		fields := strings.Split(f.lines[idx], ":")
		if len(fields) < 2 {
			return fmt.Errorf("passwords[%d]: /etc/shadow line of %q is malformed", i, p.User)
		}
		fields[1] = p.Hash
		f.lines[idx] = strings.Join(fields, ":")
	}
	if err := t.saveAccountFile(f, modTime); err != nil {
		return fmt.Errorf("/etc/shadow: %w", err)
	}
	return nil
}
