package rootfs

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// ent describes one entry of a synthetic layer.
type ent struct {
	name string
	typ  byte
	body string // file content, or link target for links
	mode int64
}

func file(name, body string) ent { return ent{name, tar.TypeReg, body, 0o644} }
func dir(name string) ent        { return ent{name, tar.TypeDir, "", 0o755} }
func sym(name, to string) ent    { return ent{name, tar.TypeSymlink, to, 0o777} }
func hard(name, to string) ent   { return ent{name, tar.TypeLink, to, 0o644} }
func wh(name string) ent         { return ent{name, tar.TypeReg, "", 0o644} }

// layerTar builds an uncompressed layer.
func layerTar(t testing.TB, ents ...ent) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: e.mode, ModTime: time.Unix(1000, 0), Uid: 0, Gid: 0}
		switch e.typ {
		case tar.TypeReg:
			h.Size = int64(len(e.body))
		case tar.TypeSymlink, tar.TypeLink:
			h.Linkname = e.body
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// listing renders a tar as one line per entry: "name type detail".
func listing(t testing.TB, data []byte) []string {
	t.Helper()
	var out []string
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		switch h.Typeflag {
		case tar.TypeReg:
			out = append(out, fmt.Sprintf("%s f %s", h.Name, body))
		case tar.TypeDir:
			out = append(out, h.Name+" d")
		case tar.TypeSymlink:
			out = append(out, fmt.Sprintf("%s l %s", h.Name, h.Linkname))
		case tar.TypeLink:
			out = append(out, fmt.Sprintf("%s h %s", h.Name, h.Linkname))
		default:
			out = append(out, fmt.Sprintf("%s %c", h.Name, h.Typeflag))
		}
	}
}

func flatten(t testing.TB, layers ...[]byte) ([]byte, error) {
	t.Helper()
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	for _, l := range layers {
		if err := tr.ApplyLayer(bytes.NewReader(l)); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if _, err := tr.Write(&out, WriteOptions{}); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

func TestFlatten(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]ent
		want   []string
	}{
		{"parents first and sorted, implicit parents",
			[][]ent{{file("b/z", "1"), file("a-b", "2"), file("a/x", "3"), dir("b/")}},
			[]string{"a/ d", "a/x f 3", "a-b f 2", "b/ d", "b/z f 1"}},
		{"later layer replaces file, dir keeps children",
			[][]ent{{dir("d"), file("d/a", "old"), file("f", "old")}, {dir("d"), file("f", "new")}},
			[]string{"d/ d", "d/a f old", "f f new"}},
		{"whiteout file and dir",
			[][]ent{{file("a", "1"), dir("d"), file("d/x", "2"), file("k", "3")}, {wh(".wh.a"), wh(".wh.d")}},
			[]string{"k f 3"}},
		{"opaque dir hides lower children only",
			[][]ent{{dir("d"), file("d/old", "1")}, {dir("d"), wh("d/.wh..wh..opq"), file("d/new", "2")}},
			[]string{"d/ d", "d/new f 2"}},
		{"opaque marker after same-layer entry keeps it",
			[][]ent{{dir("d"), file("d/old", "1")}, {file("d/new", "2"), wh("d/.wh..wh..opq")}},
			[]string{"d/ d", "d/new f 2"}},
		{"same-layer whiteout does not hide",
			[][]ent{{file("a", "1"), wh(".wh.a")}},
			[]string{"a f 1"}},
		{"whiteout of missing name is ignored",
			[][]ent{{file("a", "1")}, {wh(".wh.zz"), wh("q/.wh.r")}},
			[]string{"a f 1"}},
		{"file replaced by directory and back",
			[][]ent{{file("x", "1")}, {dir("x"), file("x/y", "2")}, {file("x", "3")}},
			[]string{"x f 3"}},
		{"hard link kept",
			[][]ent{{file("b", "data"), hard("a", "b")}},
			[]string{"a f data", "b h a"}}, // the first name in order carries the data
		{"hard link target replaced later: full copy",
			[][]ent{{file("t", "orig"), hard("l", "t")}, {file("t", "new")}},
			[]string{"l f orig", "t f new"}},
		{"hard link target deleted later: full copy",
			[][]ent{{file("t", "orig"), hard("l", "t")}, {wh(".wh.t")}},
			[]string{"l f orig"}},
		{"hard link group of three, first removed",
			[][]ent{{file("a", "x"), hard("b", "a"), hard("c", "a")}, {wh(".wh.a")}},
			[]string{"b f x", "c h b"}},
		{"symlinks verbatim, also climbing above root",
			[][]ent{{sym("usr/lib/l", "../../../../etc/b"), sym("abs", "/etc/passwd")}},
			[]string{"abs l /etc/passwd", "usr/ d", "usr/lib/ d", "usr/lib/l l ../../../../etc/b"}},
		{"root entry and ./ prefixes",
			[][]ent{{dir("./"), file("./etc/x", "1")}},
			[]string{"etc/ d", "etc/x f 1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var layers [][]byte
			for _, l := range tc.layers {
				layers = append(layers, layerTar(t, l...))
			}
			out, err := flatten(t, layers...)
			if err != nil {
				t.Fatal(err)
			}
			got := listing(t, out)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestFlattenBadInput(t *testing.T) {
	tests := []struct {
		name    string
		layer   []ent
		wantErr string
	}{
		{"dot-dot", []ent{file("a/../../etc/x", "1")}, `entry "a/../../etc/x"`},
		{"absolute", []ent{file("/etc/x", "1")}, `entry "/etc/x": unsafe path`},
		{"whiteout of dot", []ent{wh(".wh..")}, `entry ".wh..": malformed whiteout`},
		{"whiteout escaping", []ent{wh("a/.wh...")}, `entry "a/.wh...": whiteout escapes`},
		{"empty whiteout", []ent{wh("a/.wh.")}, `entry "a/.wh.": malformed whiteout`},
		{"aufs metadata", []ent{wh(".wh..wh.plnk")}, `malformed whiteout: unknown marker`},
		{"hard link to missing", []ent{hard("a", "nope")}, `entry "a": hard link target "nope" does not exist`},
		{"hard link escaping", []ent{file("x", "1"), hard("a", "../x")}, `entry "a": unsafe path`},
		{"parent is a file", []ent{file("f", "1"), file("f/g", "2")}, `entry "f/g": parent "f" is not a directory`},
		{"empty symlink", []ent{sym("s", "")}, `entry "s": unsafe path`},
		{"root not a directory", []ent{file(".", "")}, `entry ".": the root must be a directory`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := flatten(t, layerTar(t, tc.layer...))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
			}
		})
	}
}

func TestExclude(t *testing.T) {
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.ApplyLayer(bytes.NewReader(layerTar(t, dir("run"), file("run/a/b", "1"), file("run/c", "2"), file("etc/x", "3"), file("data", "d"), hard("run/h", "data")))); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	mt := int64(7)
	if _, err := tr.Write(&out, WriteOptions{Exclude: []string{"/run/*", "data"}, ModTime: &mt}); err != nil {
		t.Fatal(err)
	}
	want := "etc/ d\netc/x f 3\nrun/ d"
	if got := strings.Join(listing(t, out.Bytes()), "\n"); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	trd := tar.NewReader(&out)
	for h, err := trd.Next(); err == nil; h, err = trd.Next() {
		if h.ModTime.Unix() != 7 {
			t.Fatalf("%s: modTime %d, want 7", h.Name, h.ModTime.Unix())
		}
	}
	if _, err := tr.Write(io.Discard, WriteOptions{Exclude: []string{"["}}); err == nil {
		t.Fatal("bad pattern accepted")
	}
}

// TestOnly keeps the named directories, their contents and their parents;
// a hard link whose first name is left out becomes the regular file.
func TestOnly(t *testing.T) {
	tr, err := New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.ApplyLayer(bytes.NewReader(layerTar(t, file("a/data", "d"), hard("boot/h", "a/data"), file("boot/k", "k"), file("bootx", "x"), file("usr/lib/m/x", "m"), file("usr/y", "y")))); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		only []string
		want string
	}{
		{[]string{"boot"}, "boot/ d\nboot/h f d\nboot/k f k"},
		{[]string{"/usr/lib/m/"}, "usr/ d\nusr/lib/ d\nusr/lib/m/ d\nusr/lib/m/x f m"},
		{nil, "a/ d\na/data f d\nboot/ d\nboot/h h a/data\nboot/k f k\nbootx f x\nusr/ d\nusr/lib/ d\nusr/lib/m/ d\nusr/lib/m/x f m\nusr/y f y"},
	}
	for _, tc := range tests {
		var out bytes.Buffer
		if _, err := tr.Write(&out, WriteOptions{Only: tc.only}); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(listing(t, out.Bytes()), "\n"); got != tc.want {
			t.Errorf("only %q: got\n%s\nwant\n%s", tc.only, got, tc.want)
		}
	}
}
