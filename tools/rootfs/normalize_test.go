package rootfs

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/sparse"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// nent is a test entry: a header plus contents for regular files.
type nent struct {
	hdr  tar.Header
	data string
}

func mkTar(t testing.TB, ents []nent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := e.hdr
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatalf("%s: %v", h.Name, err)
		}
		if _, err := io.WriteString(tw, e.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func nreg(name, data string) nent {
	return nent{tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644}, data}
}
func ndir(name string) nent {
	return nent{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}
func nlink(name, target string) nent {
	return nent{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target}}
}

func normalize(t testing.TB, in []byte, opts NormalizeOptions) ([]byte, error) {
	t.Helper()
	var out bytes.Buffer
	err := Normalize(&out, bytes.NewReader(in), opts)
	return out.Bytes(), err
}

// got is one entry of an output archive as read back by archive/tar.
type got struct {
	hdr  *tar.Header
	data string
}

func readBack(t testing.TB, b []byte) []got {
	t.Helper()
	var out []got
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		d, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, got{h, string(d)})
	}
}

func names(gs []got) []string {
	var n []string
	for _, g := range gs {
		n = append(n, g.hdr.Name)
	}
	return n
}

// TestNormalForm checks order, synthesized parents, times, owners, names,
// xattrs and the choice of header format.
func TestNormalForm(t *testing.T) {
	longDir := strings.Repeat("l", 120)
	when := time.Date(2020, 5, 6, 7, 8, 9, 0, time.UTC)
	in := []nent{
		{tar.Header{Typeflag: tar.TypeReg, Name: "./usr/bin/ping", Mode: 0o104755, Uid: 0, Gid: 0, Uname: "root", Gname: "root",
			ModTime: when, AccessTime: when, ChangeTime: when, Format: tar.FormatPAX,
			PAXRecords: map[string]string{
				"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00",
				"SCHILY.xattr.security.selinux":    "system_u:object_r:ping_exec_t:s0\x00",
				"SCHILY.xattr.user.note":           "hi",
				"comment":                          "dropped",
			}}, "ELF"},
		{tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o755}, ""},
		{tar.Header{Typeflag: tar.TypeDir, Name: "usr/", Mode: 0o40755, Uid: 1000, Gid: 1000, Uname: "me", ModTime: when}, ""},
		{tar.Header{Typeflag: tar.TypeSymlink, Name: "bin", Linkname: "usr/bin", Mode: 0o777}, ""},
		{tar.Header{Typeflag: tar.TypeChar, Name: "dev/null", Mode: 0o666, Devmajor: 1, Devminor: 3}, ""},
		{tar.Header{Typeflag: tar.TypeFifo, Name: "run/initctl", Mode: 0o600}, ""},
		{tar.Header{Typeflag: tar.TypeReg, Name: longDir + "/f", Mode: 0o600, Uid: 3000000, Gid: 7}, "long"},
		{tar.Header{Typeflag: tar.TypeReg, Name: "usr/bin-x", Mode: 0o644}, "x"},
		{tar.Header{Typeflag: tar.TypeReg, Name: "etc/a b", Mode: 0o644, Uid: 5, Gid: 6, Gname: "g"}, "space"},
	}
	mtime := time.Unix(1700000000, 0)
	out, err := normalize(t, mkTar(t, in), NormalizeOptions{ModTime: mtime.Unix()})
	if err != nil {
		t.Fatal(err)
	}
	gs := readBack(t, out)
	want := []string{"./", "bin", "dev/", "dev/null", "etc/", "etc/a b", longDir + "/", longDir + "/f",
		"run/", "run/initctl", "usr/", "usr/bin/", "usr/bin/ping", "usr/bin-x"}
	if !reflect.DeepEqual(names(gs), want) {
		t.Fatalf("order:\n got %q\nwant %q", names(gs), want)
	}
	for _, g := range gs {
		h := g.hdr
		if !h.ModTime.Equal(mtime) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: times %v/%v/%v names %q/%q", h.Name, h.ModTime, h.AccessTime, h.ChangeTime, h.Uname, h.Gname)
		}
		needPAX := h.Name == "usr/bin/ping" || strings.HasPrefix(h.Name, longDir)
		if needPAX != (h.Format == tar.FormatPAX) || !needPAX && h.Format != tar.FormatUSTAR {
			t.Errorf("%s: format %v", h.Name, h.Format)
		}
	}
	byName := map[string]*tar.Header{}
	for _, g := range gs {
		byName[g.hdr.Name] = g.hdr
	}
	ping := byName["usr/bin/ping"]
	wantX := map[string]string{
		"SCHILY.xattr.security.capability": "\x01\x00\x00\x02\x00\x20\x00\x00",
		"SCHILY.xattr.security.selinux":    "system_u:object_r:ping_exec_t:s0\x00",
		"SCHILY.xattr.user.note":           "hi",
	}
	if !reflect.DeepEqual(ping.PAXRecords, wantX) || ping.Mode != 0o4755 {
		t.Errorf("ping: mode %o records %q", ping.Mode, ping.PAXRecords)
	}
	if h := byName["usr/"]; h.Mode != 0o755 || h.Uid != 1000 || h.Gid != 1000 {
		t.Errorf("usr/: %+v", h)
	}
	if h := byName["dev/"]; h.Mode != 0o755 || h.Uid != 0 || h.Typeflag != tar.TypeDir {
		t.Errorf("synthesized dev/: %+v", h)
	}
	if h := byName["dev/null"]; h.Typeflag != tar.TypeChar || h.Devmajor != 1 || h.Devminor != 3 {
		t.Errorf("dev/null: %+v", h)
	}
	if h := byName[longDir+"/f"]; h.Uid != 3000000 || h.Gid != 7 {
		t.Errorf("big uid: %+v", h)
	}
	if h := byName["bin"]; h.Linkname != "usr/bin" {
		t.Errorf("symlink: %+v", h)
	}
}

// TestSameFilesSameBytes normalizes two archives with the same files in
// different order, with different times and user names: equal output.
func TestSameFilesSameBytes(t *testing.T) {
	a := []nent{ndir("etc/"), nreg("etc/passwd", "root:x:0:0"), nreg("etc/group", "root:x:0:"), nlink("etc/hl", "etc/group")}
	b := []nent{nreg("./etc/group", "root:x:0:"), nlink("etc/hl", "./etc/group"), nreg("etc/passwd", "root:x:0:0"), ndir("./etc")}
	a[1].hdr.ModTime = time.Unix(99999, 0)
	b[0].hdr.Uname = "someone"
	b[0].hdr.AccessTime = time.Unix(5, 0)
	b[0].hdr.Format = tar.FormatPAX
	oa, err := normalize(t, mkTar(t, a), NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ob, err := normalize(t, mkTar(t, b), NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(oa, ob) {
		t.Fatalf("outputs differ:\n%q\n%q", names(readBack(t, oa)), names(readBack(t, ob)))
	}
	// Normalizing the normal form changes nothing.
	oc, err := normalize(t, oa, NormalizeOptions{})
	if err != nil || !bytes.Equal(oa, oc) {
		t.Fatalf("not idempotent (err %v)", err)
	}
}

// TestHardlinkBeforeTarget: after sorting, a link sorts before the file it
// links to; the first name must carry the data and the rest link to it.
func TestHardlinkBeforeTarget(t *testing.T) {
	tarBin := testutil.Tool(t, "tar", "tar")
	in := []nent{
		ndir("z/"),
		{tar.Header{Typeflag: tar.TypeReg, Name: "z/file", Mode: 0o750, Uid: 7, Gid: 8,
			PAXRecords: map[string]string{"SCHILY.xattr.user.k": "v"}}, "payload"},
		nlink("a-link", "z/file"),
		nlink("m-link", "a-link"), // a link to a link
	}
	out, err := normalize(t, mkTar(t, in), NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gs := readBack(t, out)
	if !reflect.DeepEqual(names(gs), []string{"a-link", "m-link", "z/", "z/file"}) {
		t.Fatalf("order %q", names(gs))
	}
	first := gs[0].hdr
	if first.Typeflag != tar.TypeReg || gs[0].data != "payload" || first.Mode != 0o750 || first.Uid != 7 || first.PAXRecords["SCHILY.xattr.user.k"] != "v" {
		t.Fatalf("first name does not carry the file: %+v %q", first, gs[0].data)
	}
	for _, i := range []int{1, 3} {
		if h := gs[i].hdr; h.Typeflag != tar.TypeLink || h.Linkname != "a-link" {
			t.Fatalf("%s: %+v", h.Name, h)
		}
	}
	// GNU tar extracts it to three names of one inode.
	x := t.TempDir()
	cmd := exec.Command(tarBin, "-xf", "-", "-C", x)
	cmd.Stdin = bytes.NewReader(out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, b)
	}
	var ino uint64
	for _, n := range []string{"a-link", "m-link", "z/file"} {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(x, n), &st); err != nil {
			t.Fatal(err)
		}
		if ino != 0 && st.Ino != ino || st.Nlink != 3 {
			t.Fatalf("%s: inode %d nlink %d", n, st.Ino, st.Nlink)
		}
		ino = st.Ino
		if b, _ := os.ReadFile(filepath.Join(x, n)); string(b) != "payload" {
			t.Fatalf("%s: %q", n, b)
		}
	}
}

// TestHardlinkTargetReplaced: a link keeps the file it was made to even if
// the target name is later replaced (last wins), like GNU tar extraction.
func TestHardlinkTargetReplaced(t *testing.T) {
	in := []nent{nreg("b", "old"), nlink("c", "b"), nreg("b", "new")}
	out, err := normalize(t, mkTar(t, in), NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gs := readBack(t, out)
	if len(gs) != 2 || gs[0].data != "new" || gs[1].hdr.Typeflag != tar.TypeReg || gs[1].data != "old" {
		t.Fatalf("got %q / %+v", names(gs), gs)
	}
}

// TestWhiteoutNamesKept: outside of image layers ".wh." names are
// ordinary names; Normalize keeps them (and checks nothing about them).
func TestWhiteoutNamesKept(t *testing.T) {
	in := mkTar(t, []nent{nreg("a/.wh.b", ""), nreg("a/b", "b"), nreg(".wh..wh..opq", "")})
	out, err := normalize(t, in, NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if g, want := names(readBack(t, out)), []string{".wh..wh..opq", "a/", "a/.wh.b", "a/b"}; !reflect.DeepEqual(g, want) {
		t.Fatalf("names %q, want %q", g, want)
	}
}

func TestDuplicates(t *testing.T) {
	in := mkTar(t, []nent{nreg("etc/x", "1"), nreg("etc/y", "y"), nreg("./etc//x", "2")})
	out, err := normalize(t, in, NormalizeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	gs := readBack(t, out)
	if len(gs) != 3 || gs[1].data != "2" {
		t.Fatalf("last did not win: %+v", gs)
	}
	if _, err := normalize(t, in, NormalizeOptions{Strict: true}); err == nil || !strings.Contains(err.Error(), `duplicate path "etc/x"`) {
		t.Fatalf("strict: %v", err)
	}
}

func TestNormalizeExclude(t *testing.T) {
	in := mkTar(t, []nent{ndir("run/"), nreg("run/a", ""), ndir("run/d/"), nreg("run/d/e", ""), nreg("runner", ""),
		nreg("x.pyc", ""), nreg("lib/y.pyc", ""), nreg("etc/k", "")})
	for _, tc := range []struct {
		globs []string
		want  []string
	}{
		{nil, []string{"etc/", "etc/k", "lib/", "lib/y.pyc", "run/", "run/a", "run/d/", "run/d/e", "runner", "x.pyc"}},
		{[]string{"run/*"}, []string{"etc/", "etc/k", "lib/", "lib/y.pyc", "run/", "runner", "x.pyc"}},
		{[]string{"run"}, []string{"etc/", "etc/k", "lib/", "lib/y.pyc", "runner", "x.pyc"}},
		{[]string{"/run/"}, []string{"etc/", "etc/k", "lib/", "lib/y.pyc", "runner", "x.pyc"}},
		// etc/ and lib/ were never in the input: they are implied, and an
		// implied directory stays when what is below it is excluded, as
		// "run/*" keeps run/ whether the input names it or not.
		{[]string{"*.pyc", "etc/k"}, []string{"etc/", "lib/", "lib/y.pyc", "run/", "run/a", "run/d/", "run/d/e", "runner"}},
		{[]string{"./run/", "//lib"}, []string{"etc/", "etc/k", "runner", "x.pyc"}},
		{[]string{"*/*.pyc", "run/d"}, []string{"etc/", "etc/k", "lib/", "run/", "run/a", "runner", "x.pyc"}},
	} {
		out, err := normalize(t, in, NormalizeOptions{Exclude: tc.globs})
		if err != nil {
			t.Fatalf("%q: %v", tc.globs, err)
		}
		if g := names(readBack(t, out)); !reflect.DeepEqual(g, tc.want) {
			t.Errorf("exclude %q:\n got %q\nwant %q", tc.globs, g, tc.want)
		}
	}
	if _, err := normalize(t, in, NormalizeOptions{Exclude: []string{"[x"}}); err == nil {
		t.Error("bad glob accepted")
	}
	for _, g := range []string{"", "/", "./"} {
		if _, err := normalize(t, in, NormalizeOptions{Exclude: []string{g}}); err == nil || !strings.Contains(err.Error(), "bad exclude pattern") {
			t.Errorf("glob %q: %v", g, err)
		}
	}
	// A hard link whose first name is excluded carries the data itself.
	in2 := mkTar(t, []nent{nreg("run/a", "x"), nlink("keep", "run/a")})
	out, err := normalize(t, in2, NormalizeOptions{Exclude: []string{"run"}})
	if err != nil {
		t.Fatal(err)
	}
	if gs := readBack(t, out); len(gs) != 1 || gs[0].hdr.Name != "keep" || gs[0].hdr.Typeflag != tar.TypeReg || gs[0].data != "x" {
		t.Errorf("link to an excluded name: %+v", gs)
	}
}

// rawHeader builds a ustar header block by hand, for inputs archive/tar
// refuses to write. size is the raw 12-byte size field.
func rawHeader(name string, typeflag byte, size []byte, dev bool) []byte {
	b := make([]byte, 512)
	copy(b, name)
	copy(b[100:], "0000644\x00")
	copy(b[108:], "0000000\x00")
	copy(b[116:], "0000000\x00")
	copy(b[124:136], size)
	copy(b[136:], "00000000000\x00")
	b[156] = typeflag
	copy(b[257:], "ustar\x0000")
	if dev {
		copy(b[329:], "0000001\x00")
		copy(b[337:], "0000003\x00")
	}
	copy(b[148:], "        ")
	sum := 0
	for _, c := range b {
		sum += int(c)
	}
	copy(b[148:], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

func octalSize(n int64) []byte { return []byte(fmt.Sprintf("%011o\x00", n)) }

func hostileInputs(t testing.TB) map[string]struct {
	in   []byte
	opts NormalizeOptions
	want string
} {
	good := mkTar(t, []nent{nreg("ok", strings.Repeat("d", 3000)), nreg("etc/passwd", strings.Repeat("p", 2000))})
	neg := bytes.Repeat([]byte{0xff}, 12) // base-256 -1
	end := make([]byte, 1024)
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	return map[string]struct {
		in   []byte
		opts NormalizeOptions
		want string
	}{
		"dotdot":         {mkTar(t, []nent{nreg("a/../../x", "x")}), NormalizeOptions{}, `"a/../../x"`},
		"absolute":       {mkTar(t, []nent{nreg("/abs", "x")}), NormalizeOptions{}, `"/abs"`},
		"link escape":    {mkTar(t, []nent{nreg("a", ""), nlink("evil", "../../etc/shadow")}), NormalizeOptions{}, `"evil"`},
		"link absolute":  {mkTar(t, []nent{nlink("evil2", "/etc/shadow")}), NormalizeOptions{}, `"evil2"`},
		"link missing":   {mkTar(t, []nent{nlink("dangling", "nowhere")}), NormalizeOptions{}, `"dangling"`},
		"link to dir":    {mkTar(t, []nent{ndir("d/"), nlink("dl", "d")}), NormalizeOptions{}, `"dl"`},
		"negative size":  {cat(rawHeader("neg-entry", '0', neg, false), end), NormalizeOptions{}, `"neg-entry"`},
		"huge size":      {cat(rawHeader("huge-entry", '0', octalSize(1<<32), false), []byte("short"), make([]byte, 507)), NormalizeOptions{}, `"huge-entry"`},
		"truncated data": {good[:512+1000], NormalizeOptions{}, `"ok"`},
		"truncated hdr":  {good[:3584+100], NormalizeOptions{}, `"ok"`},
		"unknown type":   {cat(rawHeader("vol", 'V', octalSize(0), false), end), NormalizeOptions{}, `"vol"`},
		"dev on file":    {cat(rawHeader("devfile", '0', octalSize(0), true), end), NormalizeOptions{}, `"devfile"`},
		"size on dir":    {cat(rawHeader("sdir/", '5', octalSize(512), false), make([]byte, 512), end), NormalizeOptions{}, `"sdir/"`},
		"strict dup":     {mkTar(t, []nent{nreg("d", "1"), nreg("./d", "2")}), NormalizeOptions{Strict: true}, `"d"`},
		"file parent":    {mkTar(t, []nent{nreg("f", "1"), nreg("f/g", "2")}), NormalizeOptions{}, `"f/g"`},
		"file root":      {mkTar(t, []nent{nreg(".", "")}), NormalizeOptions{}, `"."`},
		"empty input":    {nil, NormalizeOptions{}, "empty input, not a tar"},
		"link on a file": {mkTar(t, []nent{{tar.Header{Typeflag: tar.TypeReg, Name: "lf", Linkname: "x"}, ""}}), NormalizeOptions{}, `"lf"`},
		"empty xattr":    {mkTar(t, []nent{{tar.Header{Typeflag: tar.TypeReg, Name: "xa", PAXRecords: map[string]string{"SCHILY.xattr.": "v"}}, ""}}), NormalizeOptions{}, `"xa"`},
	}
}

// TestHostileInputs runs bad archives through NormalizeFile: each must
// fail with an error naming the entry and leave no output file.
func TestHostileInputs(t *testing.T) {
	for name, tc := range hostileInputs(t) {
		t.Run(name, func(t *testing.T) {
			d := t.TempDir()
			in := filepath.Join(d, "in.tar")
			if err := os.WriteFile(in, tc.in, 0o644); err != nil {
				t.Fatal(err)
			}
			outDir := filepath.Join(d, "out")
			os.Mkdir(outDir, 0o755)
			err := NormalizeFile(filepath.Join(outDir, "out.tar"), in, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
			t.Log(err)
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Fatalf("left behind: %v", ents)
			}
			// The same through a pipe-like reader (contents spooled).
			var out bytes.Buffer
			err = Normalize(&out, io.MultiReader(bytes.NewReader(tc.in)), tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("spooled: error %v, want one naming %s", err, tc.want)
			}
			if out.Len() != 0 {
				t.Fatalf("spooled: %d bytes written despite the error", out.Len())
			}
		})
	}
}

// TestDirectAndSpooledAgree normalizes the same archive from a file (read
// back directly) and from a stream (spooled), with a sparse entry that must
// be expanded in both cases.
func TestDirectAndSpooledAgree(t *testing.T) {
	var sp bytes.Buffer
	sw, err := sparse.NewWriter(&sp, sparse.Options{})
	if err != nil {
		t.Fatal(err)
	}
	img := make([]byte, 5*sparse.BlockSize)
	copy(img[2*sparse.BlockSize:], "middle")
	if err := sw.AddFile("img/disk.img", bytes.NewReader(img), int64(len(img))); err != nil {
		t.Fatal(err)
	}
	if err := sw.AddFile("img/z", bytes.NewReader([]byte("zz")), 2); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatal(err)
	}
	in := mkTar(t, []nent{nreg("b", strings.Repeat("b", 700)), nlink("a", "b")})
	in = append(in[:len(in)-1024], sp.Bytes()...) // concatenate archives
	d := t.TempDir()
	src := filepath.Join(d, "in.tar")
	if err := os.WriteFile(src, in, 0o644); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(d, "out.tar")
	if err := NormalizeFile(dst, src, NormalizeOptions{}); err != nil {
		t.Fatal(err)
	}
	direct, _ := os.ReadFile(dst)
	var spooled bytes.Buffer
	if err := Normalize(&spooled, io.MultiReader(bytes.NewReader(in)), NormalizeOptions{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(direct, spooled.Bytes()) {
		t.Fatal("direct and spooled outputs differ")
	}
	gs := readBack(t, direct)
	if !reflect.DeepEqual(names(gs), []string{"a", "b", "img/", "img/disk.img", "img/z"}) {
		t.Fatalf("names %q", names(gs))
	}
	if gs[0].data != strings.Repeat("b", 700) || gs[3].data != string(img) || gs[3].hdr.Typeflag != tar.TypeReg || gs[4].data != "zz" {
		t.Fatal("contents differ")
	}
}

// TestDeterministicAcrossEnvironmentsHelper normalizes in the helper
// processes of TestDeterministicAcrossEnvironments; it does nothing in a
// normal test run.
func TestDeterministicAcrossEnvironmentsHelper(t *testing.T) {
	var args struct{ Out, In string }
	if !testutil.HelperArgs(t, &args) {
		return
	}
	err := NormalizeFile(args.Out, args.In, NormalizeOptions{ModTime: 1600000000, Exclude: []string{"run/*"}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestDeterministicAcrossEnvironments(t *testing.T) {
	ents := []nent{nreg("usr/share/doc/x", strings.Repeat("doc ", 5000)), nreg("run/lock", "l"), ndir("run/"),
		{tar.Header{Typeflag: tar.TypeReg, Name: "bin/sh", Mode: 0o755, ModTime: time.Now(),
			PAXRecords: map[string]string{"SCHILY.xattr.security.selinux": "system_u:object_r:shell_exec_t:s0"}}, "#!"}}
	src := filepath.Join(t.TempDir(), "in.tar")
	if err := os.WriteFile(src, mkTar(t, ents), 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(env testutil.Env) []byte {
		out := filepath.Join(t.TempDir(), "out.tar")
		b := testutil.Rerun(t, "TestDeterministicAcrossEnvironmentsHelper", env, out, map[string]string{"Out": out, "In": src})
		st, err := os.Stat(out)
		if err != nil || st.Mode().Perm() != 0o644 {
			t.Fatalf("output %v mode %v", err, st)
		}
		return b
	}
	a, b := run(testutil.Env{TZ: "UTC", Umask: 0o022}), run(testutil.Env{TZ: "America/St_Johns", Umask: 0o077})
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatal("outputs differ between environments")
	}
	if g := names(readBack(t, a)); !reflect.DeepEqual(g, []string{"bin/", "bin/sh", "run/", "usr/", "usr/share/", "usr/share/doc/", "usr/share/doc/x"}) {
		t.Fatalf("names %q", g)
	}
}

// genTar streams a tar with one file of big bytes and n files of small
// bytes of pseudo-random data, without holding it in memory.
func genTar(big int64, n int, small int64) io.Reader {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		rng := rand.New(rand.NewSource(1))
		buf := make([]byte, 64<<10)
		for i := 0; i <= n; i++ {
			size := small
			if i == 0 {
				size = big
			}
			tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: fmt.Sprintf("d/f%d", i), Size: size, Mode: 0o644})
			for left := size; left > 0; left -= int64(len(buf)) {
				rng.Read(buf)
				if _, err := tw.Write(buf[:min(left, int64(len(buf)))]); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
		}
		pw.CloseWithError(tw.Close())
	}()
	return pr
}

// TestMemoryBounded normalizes a 64 MiB file and 2000 files of 16 KiB read
// from a pipe: the bytes allocated must stay far below the data size
// (contents are spooled, not buffered, and copy buffers are reused).
func TestMemoryBounded(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	if err := Normalize(io.Discard, genTar(64<<20, 2000, 16<<10), NormalizeOptions{}); err != nil {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Fatalf("allocated %d bytes to normalize %d bytes of files", alloc, 64<<20+2000*16<<10)
	}
}

// benchTar is an archive of 3000 files of 1 KiB to 64 KiB in 60
// directories, in scrambled order.
func benchTar(b *testing.B) []byte {
	rng := rand.New(rand.NewSource(2))
	var ents []nent
	for i := 0; i < 3000; i++ {
		d := make([]byte, 1024+rng.Intn(63*1024))
		rng.Read(d[:len(d)/4])
		ents = append(ents, nreg(fmt.Sprintf("d%02d/f%05d", rng.Intn(60), rng.Intn(1000000)), string(d)))
	}
	return mkTar(b, ents)
}

func BenchmarkNormalize(b *testing.B) {
	in := benchTar(b)
	b.SetBytes(int64(len(in)))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Normalize(io.Discard, bytes.NewReader(in), NormalizeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
