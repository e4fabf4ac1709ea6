package imagecheck

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// read writes the standard output of tool to the file out and returns
// its standard error. A tool exiting non-zero is an error.
func (c *checker) read(out, tool string, args ...string) (string, error) {
	f, err := os.Create(out)
	if err != nil {
		return "", err
	}
	defer f.Close()
	var stderr bytes.Buffer
	if err := c.runTo(f, &stderr, tool, args...); err != nil {
		return "", fmt.Errorf("%s %s: %v: %s", tool, strings.Join(args, " "), err, clip(stderr.String()))
	}
	return stderr.String(), f.Close()
}

// debugfs runs one debugfs request on the ext4 image img, writing its
// output to out. debugfs exits 0 whatever happens, so anything it writes to
// standard error besides its version banner is the error.
func (c *checker) debugfs(out, img, request string) error {
	stderr, err := c.read(out, "debugfs", "-R", request, img)
	if err != nil {
		return err
	}
	var msgs []string
	for _, l := range strings.Split(strings.TrimSpace(stderr), "\n") {
		if l != "" && !strings.HasPrefix(l, "debugfs ") {
			msgs = append(msgs, strings.TrimSpace(l))
		}
	}
	if len(msgs) > 0 {
		return fmt.Errorf("debugfs %s: %s", request, strings.Join(msgs, "; "))
	}
	return nil
}

// checkedFS returns the cut-out filesystem name if it passed its fsck,
// else records why the check what is skipped.
func (c *checker) checkedFS(what, name string) (string, bool) {
	if img, ok := c.fs[name]; ok {
		return img, true
	}
	if _, ok := c.cut[name]; ok {
		c.fail(what, "not checked: %s failed its fsck", name)
	} else {
		c.fail(what, "not checked: no %s cut out of the disk", name)
	}
	return "", false
}

// scratch returns a new file name in the work directory.
func (c *checker) scratch() string {
	dir := filepath.Join(c.work, "files")
	os.MkdirAll(dir, 0o755)
	f, err := os.CreateTemp(dir, "f")
	if err != nil {
		return filepath.Join(dir, "unusable")
	}
	f.Close()
	return f.Name()
}

// extract writes what a Debian tool reads from the filesystem image img
// into a new scratch file and returns its name: on vfat the mtools command
// mtools (program, options, then the ::path, to which "-i img" is added
// before the path), on ext4 the debugfs request.
func (c *checker) extract(img string, vfat bool, mtools []string, request string) (string, error) {
	out := c.scratch()
	if !vfat {
		return out, c.debugfs(out, img, request)
	}
	last := len(mtools) - 1
	args := append(append(append([]string{}, mtools[1:last]...), "-i", img), mtools[last])
	_, err := c.read(out, mtools[0], args...)
	return out, err
}

// file runs the checks of one file or directory.
func (c *checker) file(f File) {
	what := f.FS + ":" + f.Path + f.Dir
	img, ok := c.checkedFS(what, f.FS)
	if !ok {
		return
	}
	vfat := c.kinds[f.FS] == KindVFAT
	if f.Dir != "" {
		c.dir(what, f, img, vfat)
		return
	}
	if f.Type != "" || f.Mode != "" || f.Symlink != "" {
		c.stat(what, f, img)
	}
	if f.Equals == nil && f.EqualsFile == "" && f.Contains == "" && f.Size == nil {
		return
	}
	content, err := c.extract(img, vfat, []string{"mtype", "::" + f.Path}, fmt.Sprintf("cat %q", f.Path))
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	st, err := os.Stat(content)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	if f.Size != nil {
		if st.Size() != *f.Size {
			c.fail(what, "%d bytes, want %d", st.Size(), *f.Size)
		} else {
			c.ok(what, fmt.Sprintf("%d bytes", st.Size()))
		}
	}
	if f.EqualsFile != "" {
		if _, err := c.run("", "cmp", content, c.path(f.EqualsFile)); err != nil {
			c.fail(what, "differs from %s: %v", f.EqualsFile, err)
		} else {
			c.ok(what, "equals "+f.EqualsFile)
		}
	}
	if f.Equals == nil && f.Contains == "" {
		return
	}
	if st.Size() > 1<<20 {
		c.fail(what, "%d bytes: too large for equals or contains (use equals_file)", st.Size())
		return
	}
	b, err := os.ReadFile(content)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	if f.Equals != nil {
		if string(b) != *f.Equals {
			c.fail(what, "content %q, want %q", clipBytes(b), *f.Equals)
		} else {
			c.ok(what, fmt.Sprintf("equals %q", *f.Equals))
		}
	}
	if f.Contains != "" {
		if !bytes.Contains(b, []byte(f.Contains)) {
			c.fail(what, "does not contain %q", f.Contains)
		} else {
			c.ok(what, fmt.Sprintf("contains %q", f.Contains))
		}
	}
}

func clipBytes(b []byte) []byte {
	if len(b) > 200 {
		return append(b[:200:200], "..."...)
	}
	return b
}

var (
	statType    = regexp.MustCompile(`Type: (\S+)`)
	statMode    = regexp.MustCompile(`Mode: +(0[0-7]+)`)
	statFastDst = regexp.MustCompile(`Fast link dest: "(.*)"`)
)

// stat checks the type, mode and link target of an ext4 file.
func (c *checker) stat(what string, f File, img string) {
	out := c.scratch()
	if err := c.debugfs(out, img, fmt.Sprintf("stat %q", f.Path)); err != nil {
		c.fail(what, "%v", err)
		return
	}
	b, err := os.ReadFile(out)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	typ, mode := "", ""
	if m := statType.FindSubmatch(b); m != nil {
		typ = string(m[1])
	}
	if m := statMode.FindSubmatch(b); m != nil {
		mode = string(m[1])
	}
	if f.Type != "" {
		if typ != f.Type {
			c.fail(what, "type %q, want %q", typ, f.Type)
		} else {
			c.ok(what, "type "+typ)
		}
	}
	if f.Mode != "" {
		if mode != f.Mode {
			c.fail(what, "mode %q, want %q", mode, f.Mode)
		} else {
			c.ok(what, "mode "+mode)
		}
	}
	if f.Symlink == "" {
		return
	}
	if typ != "symlink" {
		c.fail(what, "type %q, want a symlink to %q", typ, f.Symlink)
		return
	}
	var target string
	if m := statFastDst.FindSubmatch(b); m != nil {
		target = string(m[1])
	} else { // a slow link: the target is the inode's data
		if err := c.debugfs(out, img, fmt.Sprintf("cat %q", f.Path)); err != nil {
			c.fail(what, "%v", err)
			return
		}
		t, err := os.ReadFile(out)
		if err != nil {
			c.fail(what, "%v", err)
			return
		}
		target = string(t)
	}
	if target != f.Symlink {
		c.fail(what, "symlink to %q, want %q", target, f.Symlink)
	} else {
		c.ok(what, "symlink to "+target)
	}
}

// dir checks the names in a directory.
func (c *checker) dir(what string, f File, img string, vfat bool) {
	out, err := c.extract(img, vfat, []string{"mdir", "-b", "::" + f.Dir}, fmt.Sprintf("ls -p %q", f.Dir))
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	b, err := os.ReadFile(out)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	var names []string
	for _, l := range strings.Split(string(b), "\n") {
		if vfat { // ::/dir/name, directories with a trailing /
			if l = strings.TrimSuffix(l, "/"); l != "" {
				names = append(names, l[strings.LastIndexByte(l, '/')+1:])
			}
			continue
		}
		// ls -p: /inode/mode/uid/gid/name/size/
		if fs := strings.Split(l, "/"); len(fs) >= 7 && fs[5] != "." && fs[5] != ".." {
			names = append(names, fs[5])
		}
	}
	some := func(prefix string) string {
		for _, n := range names {
			if strings.HasPrefix(n, prefix) {
				return n
			}
		}
		return ""
	}
	if p := f.HasPrefix; p != "" {
		if n := some(p); n == "" {
			c.fail(what, "no entry named %s*: %s", p, strings.Join(names, " "))
		} else {
			c.ok(what, "has "+n)
		}
	}
	if p := f.LacksPrefix; p != "" {
		if n := some(p); n != "" {
			c.fail(what, "has %s, want no entry named %s*", n, p)
		} else {
			c.ok(what, "no "+p+"*")
		}
	}
}

// shadow checks a user's password field in /etc/shadow.
func (c *checker) shadow(s Shadow) {
	what := s.FS + ":/etc/shadow"
	img, ok := c.checkedFS(what, s.FS)
	if !ok {
		return
	}
	out := c.scratch()
	if err := c.debugfs(out, img, "cat /etc/shadow"); err != nil {
		c.fail(what, "%v", err)
		return
	}
	b, err := os.ReadFile(out)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	var hash *string
	for _, l := range strings.Split(string(b), "\n") {
		if fs := strings.Split(l, ":"); len(fs) >= 2 && fs[0] == s.User {
			hash = &fs[1]
			break
		}
	}
	switch {
	case hash == nil:
		c.fail(what, "no user %s", s.User)
	case s.Locked && !strings.HasPrefix(*hash, "*") && !strings.HasPrefix(*hash, "!"):
		c.fail(what, "%s is not locked (password field %q)", s.User, *hash)
	case !s.Locked && *hash != s.Hash:
		c.fail(what, "%s has the password field %q, want %q", s.User, *hash, s.Hash)
	default:
		c.ok(what, s.User+" password field "+map[bool]string{true: "locked", false: "as given"}[s.Locked])
	}
}

// runTo runs tool with its output going to stdout and stderr.
func (c *checker) runTo(stdout, stderr io.Writer, tool string, args ...string) error {
	cmd, err := c.command(tool, args...)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	return cmd.Run()
}
