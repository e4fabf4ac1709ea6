package ext4

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// TestHelperBuild is run as a subprocess by TestDeterministic: it builds
// the image named by Out from the tar In; it does nothing in a normal test
// run.
func TestHelperBuild(t *testing.T) {
	var args struct{ In, Out string }
	if !testutil.HelperArgs(t, &args) {
		return // not a helper run
	}
	in, err := os.Open(args.In)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := os.Create(args.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := Build(in, f, Options{Size: 32 << 20, Label: "det"}); err != nil {
		t.Fatal(err)
	}
}

func TestDeterministic(t *testing.T) {
	dir := t.TempDir()
	tarPath := filepath.Join(dir, "in.tar")
	if err := os.WriteFile(tarPath, mkTar(t, randomTree(42, 300)), 0o644); err != nil {
		t.Fatal(err)
	}
	var imgs [][]byte
	for _, env := range []testutil.Env{{TZ: "UTC", Umask: 0o022}, {TZ: "Pacific/Chatham", Umask: 0o077}} {
		out := filepath.Join(t.TempDir(), "out.img")
		b := testutil.Rerun(t, "TestHelperBuild", env, out, map[string]string{"In": tarPath, "Out": out})
		fsck(t, out)
		imgs = append(imgs, b)
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		n := 0
		for i := range imgs[0] {
			if imgs[0][i] != imgs[1][i] {
				n++
			}
		}
		t.Errorf("two builds differ in %d bytes", n)
	}
}
