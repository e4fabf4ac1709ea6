package deb

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/ulikunitz/xz"

	"github.com/icos-build/icos/tools/internal/testutil"
	"github.com/icos-build/icos/tools/zst"
)

// arMember is one member of a test ar archive.
type arMember struct {
	name string
	data []byte
}

// arHeader is an ar member header with the given name and size fields.
func arHeader(name, size string) []byte {
	return []byte(fmt.Sprintf("%-16s%-12s%-6s%-6s%-8s%-10s`\n", name, "0", "0", "0", "100644", size))
}

// arArchive builds an ar archive as dpkg-deb writes it.
func arArchive(members ...arMember) []byte {
	b := []byte(arMagic)
	for _, m := range members {
		b = append(b, arHeader(m.name, fmt.Sprint(len(m.data)))...)
		b = append(b, m.data...)
		if len(m.data)%2 == 1 {
			b = append(b, '\n')
		}
	}
	return b
}

// entry is one tar entry of a test data.tar.
type entry struct {
	name string
	typ  byte
	body string
	link string
}

func tarball(t testing.TB, entries ...entry) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Mode: 0o644, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil && h.Size > 0 {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// compress compresses b as the member suffix says.
func compress(t testing.TB, suffix string, b []byte) []byte {
	var buf bytes.Buffer
	var w io.WriteCloser
	var err error
	switch suffix {
	case "":
		return b
	case ".gz":
		w = gzip.NewWriter(&buf)
	case ".xz":
		w, err = xz.NewWriter(&buf)
	case ".zst":
		w, err = zst.NewWriter(&buf, zst.Options{Level: zst.DefaultLevel})
	default:
		return b
	}
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// files is the data.tar of most tests.
var files = []entry{
	{"./", tar.TypeDir, "", ""},
	{"./usr/lib/shim/", tar.TypeDir, "", ""},
	{"./usr/lib/shim/shimx64.efi.signed", tar.TypeReg, "shim bytes", ""},
	{"./usr/lib/shim/odd", tar.TypeReg, "odd", ""},
	{"./usr/lib/shim/link", tar.TypeSymlink, "", "shimx64.efi.signed"},
	{"./usr/lib/shim/hard", tar.TypeLink, "", "./usr/lib/shim/shimx64.efi.signed"},
}

// debFile builds a .deb whose data member is data.tar+suffix holding
// entries.
func debFile(t testing.TB, suffix string, entries ...entry) []byte {
	return arArchive(
		arMember{"debian-binary", []byte("2.0\n")},
		arMember{"control.tar.xz", compress(t, ".xz", tarball(t, entry{"./control", tar.TypeReg, "Package: x\n", ""}))},
		arMember{"data.tar" + suffix, compress(t, suffix, tarball(t, entries...))},
	)
}

// members returns the standard members with data replaced.
func members(t testing.TB, data ...arMember) []arMember {
	return append([]arMember{
		{"debian-binary", []byte("2.0\n")},
		{"control.tar.gz", compress(t, ".gz", tarball(t, entry{"./control", tar.TypeReg, "Package: x\n", ""}))},
	}, data...)
}

func TestFiles(t *testing.T) {
	xzData := compress(t, ".xz", tarball(t, files...))
	dataTar := func(suffix string) arMember {
		return arMember{"data.tar" + suffix, compress(t, suffix, tarball(t, files...))}
	}
	tests := []struct {
		name    string
		deb     []byte
		names   []string
		want    map[string]string
		wantErr string
	}{
		{name: "xz", deb: debFile(t, ".xz", files...), names: []string{"usr/lib/shim/shimx64.efi.signed"},
			want: map[string]string{"usr/lib/shim/shimx64.efi.signed": "shim bytes"}},
		{name: "gz, dot slash", deb: debFile(t, ".gz", files...), names: []string{"./usr/lib/shim/shimx64.efi.signed", "usr/lib/shim/odd"},
			want: map[string]string{"./usr/lib/shim/shimx64.efi.signed": "shim bytes", "usr/lib/shim/odd": "odd"}},
		{name: "zst", deb: debFile(t, ".zst", files...), names: []string{"usr/lib/shim/odd"}, want: map[string]string{"usr/lib/shim/odd": "odd"}},
		{name: "uncompressed", deb: debFile(t, "", files...), names: []string{"usr/lib/shim/odd"}, want: map[string]string{"usr/lib/shim/odd": "odd"}},
		{name: "no names", deb: debFile(t, ".xz", files...), want: map[string]string{}},
		{name: "names without ./ in the tar", deb: debFile(t, ".xz", entry{"usr/x", tar.TypeReg, "x", ""}), names: []string{"./usr/x"},
			want: map[string]string{"./usr/x": "x"}},
		{name: "GNU ar names, odd member, ignored member",
			deb: arArchive(arMember{"debian-binary/", []byte("2.0\n")}, arMember{"control.tar/", []byte("c")},
				arMember{"_gpgorigin", []byte("sig")}, dataTar(".xz")),
			names: []string{"usr/lib/shim/odd"}, want: map[string]string{"usr/lib/shim/odd": "odd"}},

		{name: "bad magic", deb: []byte("!<arch>\r" + strings.Repeat("x", 100)), wantErr: `deb: not an ar archive: starts with "!<arch>\r"`},
		{name: "empty", deb: nil, wantErr: `deb: not an ar archive: starts with ""`},
		{name: "no members", deb: []byte(arMagic), wantErr: "deb: empty ar archive: no debian-binary member"},
		{name: "truncated header", deb: debFile(t, ".xz", files...)[:8+30], wantErr: "deb: truncated member header at offset 8: 30 of 60 bytes"},
		{name: "truncated member", deb: debFile(t, ".xz", files...)[:8+60+2], wantErr: "deb: member debian-binary: truncated: the archive ends after 2 of its 4 bytes"},
		{name: "truncated data member", deb: debFile(t, ".xz", files...)[:len(debFile(t, ".xz", files...))-20],
			wantErr: "member data.tar.xz: "},
		{name: "size not a number", deb: append(append([]byte(arMagic), arHeader("debian-binary", "4x")...), "2.0\n"...),
			wantErr: `deb: member debian-binary at offset 8: size field "4x        " is not a decimal number`},
		{name: "negative size", deb: append(append([]byte(arMagic), arHeader("debian-binary", "-4")...), "2.0\n"...),
			wantErr: `size field "-4        " is not a decimal number`},
		{name: "size beyond the end", deb: append(append([]byte(arMagic), arHeader("debian-binary", "4000")...), "2.0\n"...),
			wantErr: "deb: member debian-binary: 4000 bytes, want a version line"},
		{name: "control size beyond the end",
			deb:     append(arArchive(arMember{"debian-binary", []byte("2.0\n")}), append(arHeader("control.tar.xz", "9999"), "abc"...)...),
			wantErr: "deb: member control.tar.xz: truncated: the archive ends after 3 of its 9999 bytes"},
		{name: "bad terminator", deb: append([]byte(arMagic), bytes.Replace(arHeader("debian-binary", "4"), []byte("`\n"), []byte("`x"), 1)...),
			wantErr: "member debian-binary at offset 8: bad header terminator"},
		{name: "bad padding", deb: bytes.Replace(arArchive(members(t, arMember{"_odd", []byte("x")}, dataTar(".xz"))...), []byte("x\ndata.tar"), []byte("x data.tar"), 1),
			wantErr: `deb: member _odd: padding byte at offset`},
		{name: "first member", deb: arArchive(members(t, dataTar(".xz"))[1:]...), wantErr: "deb: first member is control.tar.gz, want debian-binary"},
		{name: "debian-binary format", deb: arArchive(append([]arMember{{"debian-binary", []byte("3.0\n")}}, members(t, dataTar(".xz"))[1:]...)...),
			wantErr: `deb: member debian-binary: format "3.0\n", want 2.x`},
		{name: "duplicate data", deb: arArchive(members(t, dataTar(".xz"), dataTar(".gz"))...), names: []string{"usr/lib/shim/odd"},
			wantErr: "deb: duplicate member data.tar.gz (after data.tar.xz)"},
		{name: "duplicate control", deb: arArchive(append(members(t), members(t, dataTar(".xz"))[1:]...)...),
			wantErr: "deb: duplicate member control.tar.gz (after control.tar.gz)"},
		{name: "missing data", deb: arArchive(members(t)...), wantErr: "deb: no data.tar member"},
		{name: "missing control", deb: arArchive(arMember{"debian-binary", []byte("2.0\n")}, dataTar(".xz")),
			wantErr: "deb: member data.tar.xz before any control.tar member"},
		{name: "unexpected member", deb: arArchive(members(t, dataTar(".xz"), arMember{"data2", nil})...),
			wantErr: "deb: unexpected member data2"},
		{name: "unsupported compression", deb: arArchive(members(t, arMember{"data.tar.bz2", []byte("BZh")})...),
			wantErr: "deb: member data.tar.bz2: unsupported compression"},
		{name: "xz truncated after the block", deb: arArchive(members(t, arMember{"data.tar.xz", truncateXZ(t, xzData)})...),
			names: []string{"usr/lib/shim/odd"}, wantErr: "deb: member data.tar.xz: xz: truncated stream: no stream footer at the end"},
		{name: "xz cut short", deb: arArchive(members(t, arMember{"data.tar.xz", xzData[:len(xzData)/2]})...),
			wantErr: "deb: member data.tar.xz: "},
		{name: "xz bytes after the stream", deb: arArchive(members(t, arMember{"data.tar.xz", append(append([]byte(nil), xzData...), 0, 0, 0, 0)})...),
			wantErr: "deb: member data.tar.xz: xz: "},
		{name: "xz corrupt", deb: arArchive(members(t, arMember{"data.tar.xz", flip(xzData, len(xzData)/2)})...),
			wantErr: "deb: member data.tar.xz: "},
		{name: "gz truncated", deb: arArchive(members(t, arMember{"data.tar.gz", compress(t, ".gz", tarball(t, files...))[:40]})...),
			wantErr: "deb: member data.tar.gz: "},
		{name: "gz bytes after the stream", deb: arArchive(members(t, arMember{"data.tar.gz", append(compress(t, ".gz", tarball(t, files...)), "junk"...)})...),
			wantErr: "deb: member data.tar.gz: gzip: unexpected EOF"},
		{name: "zst truncated", deb: arArchive(members(t, arMember{"data.tar.zst", compress(t, ".zst", tarball(t, files...))[:30]})...),
			wantErr: "deb: member data.tar.zst: "},
		{name: "symlink", deb: debFile(t, ".xz", files...), names: []string{"usr/lib/shim/link"},
			wantErr: `deb: member data.tar.xz: "./usr/lib/shim/link" is a symbolic link, not a regular file`},
		{name: "hard link", deb: debFile(t, ".xz", files...), names: []string{"usr/lib/shim/hard"},
			wantErr: `is a hard link, not a regular file`},
		{name: "directory", deb: debFile(t, ".xz", files...), names: []string{"usr/lib/shim"},
			wantErr: `"./usr/lib/shim/" is a directory, not a regular file`},
		{name: "missing file", deb: debFile(t, ".xz", files...), names: []string{"usr/lib/shim/odd", "usr/lib/grub/x", "y"},
			wantErr: `deb: data.tar has no "usr/lib/grub/x", "y"`},
		{name: "file twice", deb: debFile(t, ".xz", append(files, entry{"usr/lib/shim/odd", tar.TypeReg, "again", ""})...), names: []string{"usr/lib/shim/odd"},
			wantErr: `deb: member data.tar.xz: "usr/lib/shim/odd" appears twice`},
		{name: "unsafe entry", deb: debFile(t, ".xz", entry{"../etc/passwd", tar.TypeReg, "x", ""}), names: []string{"etc/passwd"},
			wantErr: `deb: member data.tar.xz: unsafe path: "../etc/passwd"`},
		{name: "absolute name asked", deb: debFile(t, ".xz", files...), names: []string{"/usr/lib/shim/odd"},
			wantErr: `deb: file "/usr/lib/shim/odd": not a file path in a package`},
		{name: "name asked twice", deb: debFile(t, ".xz", files...), names: []string{"usr/x", "./usr/x"},
			wantErr: `deb: file "./usr/x" asked for twice (as "usr/x")`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Files(bytes.NewReader(tc.deb), tc.names...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.wantErr)
				}
				if strings.Count(err.Error(), "deb: ") != 1 {
					t.Errorf("err = %v: prefix not once", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d files, want %d", len(got), len(tc.want))
			}
			for n, w := range tc.want {
				if string(got[n]) != w {
					t.Errorf("%s = %q, want %q", n, got[n], w)
				}
			}
		})
	}
}

// truncateXZ cuts an xz stream right after its first (only) block, before
// the index: a cut the xz decoder alone takes for a complete stream.
func truncateXZ(t testing.TB, b []byte) []byte {
	// The index starts with a zero byte after the 4-byte-aligned block;
	// find the cut that decodes cleanly without the footer check.
	for n := len(b) - 12; n > 12; n-- {
		r, err := xz.ReaderConfig{SingleStream: true}.NewReader(bytes.NewReader(b[:n]))
		if err != nil {
			continue
		}
		if out, err := io.ReadAll(r); err == nil && len(out) > 0 {
			return b[:n]
		}
	}
	t.Fatal("no cut the xz decoder accepts")
	return nil
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x55
	return c
}

func TestData(t *testing.T) {
	d := debFile(t, ".xz", files...)
	var names []string
	err := Data(bytes.NewReader(d), func(member string, tr *tar.Reader) error {
		if member != "data.tar.xz" {
			t.Errorf("member %q", member)
		}
		h, err := tr.Next()
		if err != nil {
			return err
		}
		names = append(names, h.Name)
		return nil // the rest is read by Data
	})
	if err != nil || len(names) != 1 || names[0] != "./" {
		t.Fatalf("Data: %v, %v", names, err)
	}
	mine := fmt.Errorf("mine")
	if err := Data(bytes.NewReader(d), func(string, *tar.Reader) error { return mine }); err != mine {
		t.Fatalf("Data returned %v, want the callback's error as it is", err)
	}
	// A corrupt stream after what the callback read is still an error.
	x := compress(t, ".xz", tarball(t, files...))
	bad := arArchive(members(t, arMember{"data.tar.xz", x[:len(x)-3]})...)
	if err := Data(bytes.NewReader(bad), func(string, *tar.Reader) error { return nil }); err == nil {
		t.Fatal("truncated xz stream accepted")
	}
}

// TestRealDeb reads the .deb at $ICOS_TEST_DEB (skipped when unset) and
// compares every regular file with what dpkg-deb --fsys-tarfile gives.
func TestRealDeb(t *testing.T) {
	name := os.Getenv("ICOS_TEST_DEB")
	if name == "" {
		t.Skip("ICOS_TEST_DEB is not set (a .deb file to compare with dpkg-deb)")
	}
	dpkgDeb := testutil.Tool(t, "dpkg-deb", "dpkg")
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string][32]byte{}
	err = Data(f, func(_ string, tr *tar.Reader) error {
		var err error
		got, err = regularFiles(tr)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(dpkgDeb, "--fsys-tarfile", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	want, err := regularFiles(tar.NewReader(bytes.NewReader(out)))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("%d regular files, dpkg-deb has %d", len(got), len(want))
	}
	var names []string
	for n, w := range want {
		if got[n] != w {
			t.Errorf("%s differs from dpkg-deb's", n)
		}
		names = append(names, n)
	}
	// Files gives the same bytes.
	fs, err := Files(bytes.NewReader(mustRead(t, name)), names...)
	if err != nil {
		t.Fatal(err)
	}
	for n, b := range fs {
		if sha256.Sum256(b) != want[n] {
			t.Errorf("Files: %s differs from dpkg-deb's", n)
		}
	}
	t.Logf("%d files equal dpkg-deb's", len(want))
}

func regularFiles(tr *tar.Reader) (map[string][32]byte, error) {
	out := map[string][32]byte{}
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		d := sha256.New()
		if _, err := io.Copy(d, tr); err != nil {
			return nil, err
		}
		out[h.Name] = [32]byte(d.Sum(nil))
	}
}

func mustRead(t testing.TB, name string) []byte {
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
