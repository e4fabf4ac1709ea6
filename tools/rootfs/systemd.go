package rootfs

import (
	"archive/tar"
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strings"
)

// unitDirs are the systemd unit directories searched, in systemd's order
// of precedence, the way `systemctl enable` finds a unit file.
// On Debian bookworm /lib/systemd/system comes before /usr/lib/systemd/system,
// so with merged /usr links point into /lib as they do after systemctl enable.
var unitDirs = []string{"etc/systemd/system", "usr/local/lib/systemd/system", "lib/systemd/system", "usr/lib/systemd/system"}

// installSection holds the [Install] keys of a unit file.
type installSection struct {
	wantedBy, requiredBy, alias, also []string
	defaultInstance                   string
	found                             bool
}

func parseInstall(data []byte) installSection {
	var s installSection
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		switch {
		case l == "" || l[0] == '#' || l[0] == ';':
			continue
		case strings.HasPrefix(l, "["):
			in = l == "[Install]"
			if in {
				s.found = true
			}
			continue
		}
		if !in {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		vals := strings.Fields(v)
		switch strings.TrimSpace(k) {
		case "WantedBy":
			s.wantedBy = append(s.wantedBy, vals...)
		case "RequiredBy":
			s.requiredBy = append(s.requiredBy, vals...)
		case "Alias":
			s.alias = append(s.alias, vals...)
		case "Also":
			s.also = append(s.also, vals...)
		case "DefaultInstance":
			s.defaultInstance = strings.TrimSpace(v)
		}
	}
	return s
}

// findUnit returns the unit directory and file name of unit u (for an
// instance "a@b.service" the template "a@.service" is accepted).
func (t *Tree) findUnit(u string) (dir, file string, data []byte, err error) {
	names := []string{u}
	if at := strings.Index(u, "@"); at >= 0 && !strings.HasPrefix(u[at:], "@.") {
		names = append(names, u[:at+1]+u[strings.LastIndex(u, "."):])
	}
	for _, name := range names {
		for _, d := range unitDirs {
			b, ok, err := t.readFile(d + "/" + name)
			if err != nil {
				return "", "", nil, err
			}
			if ok {
				return d, name, b, nil
			}
		}
	}
	return "", "", nil, fmt.Errorf("unit file not found in /%s", strings.Join(unitDirs, ", /"))
}

// enableUnit creates the symlinks `systemctl enable u` creates: one in
// /etc/systemd/system/T.wants/ for every WantedBy=T, in T.requires/ for
// every RequiredBy=T, /etc/systemd/system/A for every Alias=A, then
// enables the units named by Also=. Links point at the absolute path of
// the unit file found. Specifiers ("%i") are not expanded: a unit using
// them in [Install] is an error.
func (t *Tree) enableUnit(u string, modTime int64, seen map[string]bool) error {
	if seen[u] {
		return nil
	}
	seen[u] = true
	if strings.Contains(u, "/") || !strings.Contains(u, ".") {
		return fmt.Errorf("not a unit name")
	}
	dir, file, data, err := t.findUnit(u)
	if err != nil {
		return err
	}
	inst := parseInstall(data)
	if !inst.found || len(inst.wantedBy)+len(inst.requiredBy)+len(inst.alias)+len(inst.also) == 0 {
		return fmt.Errorf("/%s/%s has no [Install] section with WantedBy, RequiredBy, Alias or Also: nothing to enable", dir, file)
	}
	linkName := u
	if strings.HasSuffix(file, "@"+path.Ext(file)) && strings.HasPrefix(u[strings.Index(u, "@"):], "@.") {
		if inst.defaultInstance == "" {
			return fmt.Errorf("template unit without DefaultInstance: name an instance (%s)", strings.Replace(u, "@.", "@NAME.", 1))
		}
		linkName = strings.Replace(u, "@.", "@"+inst.defaultInstance+".", 1)
	}
	target := "/" + dir + "/" + file
	link := func(p string) error {
		if strings.Contains(p, "%") {
			return fmt.Errorf("specifiers in [Install] are not supported: %q", p)
		}
		cp, err := imagePath(p)
		if err != nil {
			return err
		}
		return t.put(cp, &inode{typ: tar.TypeSymlink, mode: 0o777, linkname: target, modTime: modTime})
	}
	for _, w := range inst.wantedBy {
		if err := link("etc/systemd/system/" + w + ".wants/" + linkName); err != nil {
			return err
		}
	}
	for _, r := range inst.requiredBy {
		if err := link("etc/systemd/system/" + r + ".requires/" + linkName); err != nil {
			return err
		}
	}
	for _, a := range inst.alias {
		if dir == "etc/systemd/system" && a == file {
			continue
		}
		if err := link("etc/systemd/system/" + a); err != nil {
			return err
		}
	}
	for _, a := range inst.also {
		if err := t.enableUnit(a, modTime, seen); err != nil {
			return fmt.Errorf("Also=%s: %w", a, err)
		}
	}
	return nil
}
