package rootfs

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// baseLayer is a tiny Debian-like base: account files, merged /usr and a
// unit file.
func baseLayer(t testing.TB) []byte {
	shadow := ent{"etc/shadow", tar.TypeReg, "root:*:19000:0:99999:7:::\n", 0o640}
	return layerTar(t,
		dir("etc"), dir("usr"), dir("usr/lib"), sym("lib", "usr/lib"),
		dir("usr/lib/systemd"), dir("usr/lib/systemd/system"),
		file("usr/lib/systemd/system/foo.service", "[Unit]\nDescription=foo\n\n[Service]\nExecStart=/bin/true\n\n[Install]\nWantedBy=multi-user.target\nRequiredBy=bar.target\nAlias=foo-alias.service\nAlso=tpl@.service\n"),
		file("usr/lib/systemd/system/tpl@.service", "[Install]\nWantedBy=multi-user.target\nDefaultInstance=one\n"),
		file("usr/lib/systemd/system/static.service", "[Unit]\nDescription=static\n"),
		file("etc/passwd", "root:x:0:0:root:/root:/bin/bash\n"),
		file("etc/group", "root:x:0:\nsudo:x:27:\nshadow:x:42:\n"),
		shadow,
		ent{"etc/gshadow", tar.TypeReg, "root:*::\nsudo:*::\nshadow:*::\n", 0o640},
		sym("etc/resolv.conf", "../run/systemd/resolve/stub-resolv.conf"),
		file("etc/motd", "hello"), dir("etc/ssh"), file("etc/ssh/ssh_host_rsa_key", "k"), file("etc/ssh/sshd_config", "c"),
	)
}

func writeSpecFixture(t *testing.T, dir string) *Spec {
	if err := os.MkdirAll(filepath.Join(dir, "components"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "components", "setup.sh"), []byte("#!/bin/sh\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hn, hosts, resolv := "guestos", "127.0.0.1 localhost", "nameserver ::1\n"
	return &Spec{
		Remove: []string{"/etc/motd", "etc/ssh/ssh_host_*"},
		Dirs:   []Dir{{Path: "/var/lib/ic", Mode: 0o750, Owner: Owner{UID: 1000, GID: 1000}}},
		Files:  []File{{Src: "components/setup.sh", Path: "/opt/ic/bin/setup.sh", Mode: 0o755}},
		Symlinks: []Symlink{
			{Path: "/etc/localtime", Target: "/usr/share/zoneinfo/UTC"},
			{Path: "/usr/libdir", TargetOf: "/lib"},
			{Path: "/etc/ssh/resolv", TargetOf: "etc/resolv.conf"},
		},
		Groups:     []Group{{Name: "ic-node", GID: 1000}},
		Users:      []User{{Name: "admin", UID: 1000, GID: 1000, Groups: []string{"sudo", "ic-node"}, Home: "/var/lib/admin", Shell: "/bin/bash", CreateHome: true}},
		Passwords:  []Password{{User: "root", Hash: "$6$salt$hash"}},
		Units:      []string{"foo.service"},
		Hostname:   &hn,
		Hosts:      &hosts,
		ResolvConf: &resolv,
	}
}

func TestApplySpec(t *testing.T) {
	dir := t.TempDir()
	spec := writeSpecFixture(t, dir)
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.ApplyLayer(bytes.NewReader(baseLayer(t))); err != nil {
		t.Fatal(err)
	}
	if err := tr.ApplySpec(spec, dir, 0); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := tr.Write(&out, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	type want struct {
		typ      byte
		mode     int64
		uid, gid int
		body     string
	}
	wants := map[string]want{
		"opt/ic/bin/setup.sh": {tar.TypeReg, 0o755, 0, 0, "#!/bin/sh\n"},
		"var/lib/ic/":         {tar.TypeDir, 0o750, 1000, 1000, ""},
		"var/lib/admin/":      {tar.TypeDir, 0o755, 1000, 1000, ""},
		"etc/localtime":       {tar.TypeSymlink, 0o777, 0, 0, "/usr/share/zoneinfo/UTC"},
		"usr/libdir":          {tar.TypeSymlink, 0o777, 0, 0, "lib"},
		"etc/ssh/resolv":      {tar.TypeSymlink, 0o777, 0, 0, "../../run/systemd/resolve/stub-resolv.conf"},
		"etc/passwd":          {tar.TypeReg, 0o644, 0, 0, "root:x:0:0:root:/root:/bin/bash\nadmin:x:1000:1000::/var/lib/admin:/bin/bash\n"},
		"etc/shadow":          {tar.TypeReg, 0o640, 0, 0, "root:$6$salt$hash:19000:0:99999:7:::\nadmin:!::0:99999:7:::\n"},
		"etc/group":           {tar.TypeReg, 0o644, 0, 0, "root:x:0:\nsudo:x:27:admin\nshadow:x:42:\nic-node:x:1000:admin\n"},
		"etc/gshadow":         {tar.TypeReg, 0o640, 0, 0, "root:*::\nsudo:*::admin\nshadow:*::\nic-node:!::admin\n"},
		"etc/hostname":        {tar.TypeReg, 0o644, 0, 0, "guestos\n"},
		"etc/hosts":           {tar.TypeReg, 0o644, 0, 0, "127.0.0.1 localhost\n"},
		"etc/resolv.conf":     {tar.TypeReg, 0o644, 0, 0, "nameserver ::1\n"},
		"etc/systemd/system/multi-user.target.wants/foo.service":     {tar.TypeSymlink, 0o777, 0, 0, "/lib/systemd/system/foo.service"},
		"etc/systemd/system/bar.target.requires/foo.service":         {tar.TypeSymlink, 0o777, 0, 0, "/lib/systemd/system/foo.service"},
		"etc/systemd/system/foo-alias.service":                       {tar.TypeSymlink, 0o777, 0, 0, "/lib/systemd/system/foo.service"},
		"etc/systemd/system/multi-user.target.wants/tpl@one.service": {tar.TypeSymlink, 0o777, 0, 0, "/lib/systemd/system/tpl@.service"},
		"etc/ssh/sshd_config":                                        {tar.TypeReg, 0o644, 0, 0, "c"},
	}
	gone := []string{"etc/motd", "etc/ssh/ssh_host_rsa_key"}
	rd := tar.NewReader(&out)
	seen := map[string]bool{}
	for {
		h, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen[h.Name] = true
		w, ok := wants[h.Name]
		if !ok {
			continue
		}
		body, _ := io.ReadAll(rd)
		if h.Typeflag == tar.TypeSymlink {
			body = []byte(h.Linkname)
		}
		if h.Typeflag != w.typ || h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.gid || string(body) != w.body {
			t.Errorf("%s: got %c %o %d:%d %q, want %c %o %d:%d %q", h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, body, w.typ, w.mode, w.uid, w.gid, w.body)
		}
	}
	for name := range wants {
		if !seen[name] {
			t.Errorf("%s missing", name)
		}
	}
	for _, name := range gone {
		if seen[name] {
			t.Errorf("%s not removed", name)
		}
	}
}

func TestApplySpecErrors(t *testing.T) {
	tests := []struct {
		name    string
		spec    Spec
		wantErr string
	}{
		{"missing source", Spec{Files: []File{{Src: "nope.sh", Path: "/x", Mode: 0o644}}}, `files[0] "/x": source: open`},
		{"escaping path", Spec{Dirs: []Dir{{Path: "/../x", Mode: 0o755}}}, `dirs[0] "/../x"`},
		{"password of unknown user", Spec{Passwords: []Password{{User: "nobody", Hash: "x"}}}, `user "nobody" is not in /etc/shadow`},
		{"password twice", Spec{Passwords: []Password{{User: "root", Hash: "x"}, {User: "root", Hash: "y"}}}, `user "root" given twice`},
		{"password with colon", Spec{Passwords: []Password{{User: "root", Hash: "a:b"}}}, `hash must be non-empty`},
		{"existing user", Spec{Users: []User{{Name: "root", Home: "/root", Shell: "/bin/sh"}}}, `user "root" already exists`},
		{"taken gid", Spec{Groups: []Group{{Name: "x", GID: 27}}}, `gid 27 already used by group "sudo"`},
		{"unknown supplementary group", Spec{Users: []User{{Name: "u", UID: 5, GID: 5, Home: "/h", Shell: "/bin/sh", Groups: []string{"nogroup"}}}}, `group "nogroup" is not in /etc/group`},
		{"missing unit", Spec{Units: []string{"nope.service"}}, `units[0] "nope.service": unit file not found`},
		{"static unit", Spec{Units: []string{"static.service"}}, `no [Install] section`},
		{"bad remove pattern", Spec{Remove: []string{"["}}, `remove[0] "["`},
		{"symlink without target", Spec{Symlinks: []Symlink{{Path: "/x"}}}, `symlinks[0] "/x": give exactly one of target and target_of`},
		{"symlink with both targets", Spec{Symlinks: []Symlink{{Path: "/x", Target: "y", TargetOf: "/lib"}}}, `give exactly one`},
		{"target_of a file", Spec{Symlinks: []Symlink{{Path: "/x", TargetOf: "/etc/motd"}}}, `symlinks[0] "/x": target_of "/etc/motd": not a symlink in the image`},
		{"target_of missing", Spec{Symlinks: []Symlink{{Path: "/x", TargetOf: "/vmlinuz"}}}, `target_of "/vmlinuz": not a symlink`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Close()
			if err := tr.ApplyLayer(bytes.NewReader(baseLayer(t))); err != nil {
				t.Fatal(err)
			}
			err = tr.ApplySpec(&tc.spec, t.TempDir(), 0)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseSpec(t *testing.T) {
	s, err := ParseSpec(strings.NewReader(`{"files":[{"src":"a","path":"/b","mode":"4755","uid":1,"gid":2}],"units":["x.service"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if f := s.Files[0]; f.Mode != 0o4755 || f.UID != 1 || f.GID != 2 || f.Src != "a" {
		t.Fatalf("parsed %+v", f)
	}
	for _, bad := range []string{`{"file":[]}`, `{"dirs":[{"path":"/a","mode":755}]}`, `{"dirs":[{"path":"/a","mode":"0999"}]}`, `{} {}`, `not json`} {
		if _, err := ParseSpec(strings.NewReader(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestBuildDeterministic builds the same rootfs twice with different
// temporary directories, time zones and umasks and compares the bytes; a
// failing build leaves no output file.
func TestBuildDeterministic(t *testing.T) {
	img := imageOf(t, [][]byte{baseLayer(t), layerTar(t, file("usr/lib/x", "y"), hard("usr/lib/z", "usr/lib/x"))})
	dir := t.TempDir()
	spec := writeSpecFixture(t, dir)
	mt := int64(0)
	var outs [][]byte
	for i, env := range []struct {
		tz    string
		umask int
	}{{"UTC", 0o022}, {"Asia/Kolkata", 0o077}} {
		loc, err := time.LoadLocation(env.tz)
		if err != nil {
			loc = time.FixedZone(env.tz, 19800)
		}
		oldLoc := time.Local
		time.Local = loc
		old := syscall.Umask(env.umask)
		out := filepath.Join(t.TempDir(), "rootfs.tar")
		_, err = Build(Options{Image: img, Spec: spec, SpecBase: dir, Output: out, TmpDir: t.TempDir(), WriteOptions: WriteOptions{ModTime: &mt, Exclude: []string{"run/*"}}})
		syscall.Umask(old)
		time.Local = oldLoc
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Fatal("two builds differ")
	}
	bad := *spec
	bad.Files = []File{{Src: "missing", Path: "/x", Mode: 0o644}}
	outDir := t.TempDir()
	out := filepath.Join(outDir, "rootfs.tar")
	if _, err := Build(Options{Image: img, Spec: &bad, SpecBase: dir, Output: out}); err == nil {
		t.Fatal("missing source accepted")
	}
	if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
		t.Fatalf("failed build left %d files behind", len(ents))
	}
	if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("output exists after failure: %v", err)
	}
}

// TestBuildEmpty builds a tar from a spec alone (no base image), as the
// SetupOS data partition does: only the spec's entries and their parents.
func TestBuildEmpty(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "img"), []byte("disk"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "data.tar")
	spec := &Spec{Files: []File{{Src: "img", Path: "/guest-os.img.tar.zst", Mode: 0o644}}}
	if _, err := Build(Options{Spec: spec, SpecBase: dir, Output: out, TmpDir: dir}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	rd := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := rd.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, fmt.Sprintf("%s %o %d:%d", h.Name, h.Mode, h.Uid, h.Gid))
	}
	if got, want := strings.Join(names, ","), "guest-os.img.tar.zst 644 0:0"; got != want {
		t.Errorf("entries %q, want %q", got, want)
	}
}
