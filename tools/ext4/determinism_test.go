package ext4

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// TestHelperBuild is run as a subprocess by TestDeterministic: it builds
// the image named by ICOS_EXT4_OUT from ICOS_EXT4_TAR under the umask in
// ICOS_EXT4_UMASK.
func TestHelperBuild(t *testing.T) {
	out := os.Getenv("ICOS_EXT4_OUT")
	if out == "" {
		return // not a helper run
	}
	if os.Getenv("ICOS_EXT4_UMASK") == "077" {
		syscall.Umask(0o077)
	} else {
		syscall.Umask(0o022)
	}
	in, err := os.Open(os.Getenv("ICOS_EXT4_TAR"))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	f, err := os.Create(out)
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
	for i, env := range [][]string{
		{"TZ=UTC", "ICOS_EXT4_UMASK=022"},
		{"TZ=Pacific/Chatham", "ICOS_EXT4_UMASK=077"},
	} {
		tmp := filepath.Join(dir, "tmp", string(rune('a'+i)))
		os.MkdirAll(tmp, 0o755)
		out := filepath.Join(tmp, "out.img")
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperBuild$", "-test.count=1")
		cmd.Env = append(os.Environ(), append(env, "TMPDIR="+tmp, "ICOS_EXT4_TAR="+tarPath, "ICOS_EXT4_OUT="+out)...)
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("helper build %v: %v\n%s", env, err, b)
		}
		fsck(t, out)
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
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
