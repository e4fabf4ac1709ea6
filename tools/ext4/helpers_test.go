package ext4

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// fsck runs e2fsck -fn on img and fails the test unless it exits 0.
func fsck(t testing.TB, img string) {
	t.Helper()
	out, err := exec.Command(testutil.Tool(t, "e2fsck", "e2fsprogs"), "-fn", img).CombinedOutput()
	if err != nil {
		t.Fatalf("e2fsck -fn %s: %v\n%s", img, err, out)
	}
}

// debugfs runs one debugfs request on img and returns its output.
func debugfs(t testing.TB, img, req string) string {
	t.Helper()
	cmd := exec.Command(testutil.Tool(t, "debugfs", "e2fsprogs"), "-R", req, img)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("debugfs -R %q: %v\n%s", req, err, stderr.String())
	}
	return out.String()
}

// ent describes one tar entry for test fixtures.
type ent struct {
	name     string
	typ      byte
	mode     int64
	uid, gid int
	data     string
	link     string
	major    int64
	minor    int64
	xattrs   map[string]string
	modTime  int64
}

var testTime = time.Unix(1700000000, 123456789)

// mkTar writes the entries as a PAX tar.
func mkTar(t testing.TB, ents []ent) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{
			Name: e.name, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Linkname: e.link, Devmajor: e.major, Devminor: e.minor,
			ModTime: testTime, Format: tar.FormatPAX,
		}
		if e.modTime != 0 {
			h.ModTime = time.Unix(e.modTime, 0)
		}
		if h.Mode == 0 {
			h.Mode = 0o644
			if e.typ == tar.TypeDir {
				h.Mode = 0o755
			}
		}
		if e.typ == tar.TypeReg {
			h.Size = int64(len(e.data))
		}
		if len(e.xattrs) > 0 {
			h.PAXRecords = map[string]string{}
			for k, v := range e.xattrs {
				h.PAXRecords["SCHILY.xattr."+k] = v
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg {
			if _, err := tw.Write([]byte(e.data)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// build writes an image from tarball into a temporary file and returns its
// path.
func build(t testing.TB, tarball []byte, opt Options) (string, error) {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fs.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if opt.Size == 0 {
		opt.Size = 16 << 20
	}
	return img, Build(bytes.NewReader(tarball), f, opt)
}

// mustBuild is build that fails the test on error and checks the image
// with e2fsck.
func mustBuild(t testing.TB, tarball []byte, opt Options) string {
	t.Helper()
	img, err := build(t, tarball, opt)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	fsck(t, img)
	return img
}

// statField extracts "Key: value" from debugfs stat output.
func statField(stat, key string) string {
	i := strings.Index(stat, key+":")
	if i < 0 {
		return ""
	}
	f := strings.Fields(stat[i+len(key)+1:])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}
