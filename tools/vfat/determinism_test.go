package vfat

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// TestDeterminism builds the same image in two processes with different
// TZ, umask and temporary directories and requires identical bytes.
func TestDeterminism(t *testing.T) {
	tarball := filepath.Join(t.TempDir(), "in.tar")
	if err := os.WriteFile(tarball, tarOf(t, testTree(3)), 0o644); err != nil {
		t.Fatal(err)
	}
	var imgs [][]byte
	for _, env := range []testutil.Env{{TZ: "UTC", Umask: 0o022}, {TZ: "Pacific/Kiritimati", Umask: 0o077}} {
		out := filepath.Join(t.TempDir(), "fat.img")
		b := testutil.Rerun(t, "TestDeterminismHelper", env, out, map[string]string{"In": tarball, "Out": out})
		imgs = append(imgs, b)
		fsck(t, out)
	}
	if !bytes.Equal(imgs[0], imgs[1]) {
		t.Fatalf("two builds differ")
	}
}

// TestDeterminismHelper is the child process of TestDeterminism; it does
// nothing in a normal test run.
func TestDeterminismHelper(t *testing.T) {
	var args struct{ In, Out string }
	if !testutil.HelperArgs(t, &args) {
		return
	}
	tarball, err := os.ReadFile(args.In)
	if err != nil {
		t.Fatal(err)
	}
	img, _ := build(t, os.TempDir(), Options{Size: 40 << 20, Label: "DET", Serial: 7, ModTime: 1234567890}, tarball)
	if err := os.Rename(img, args.Out); err != nil {
		t.Fatal(err)
	}
}

// TestSurrogateNames checks names outside the Basic Multilingual Plane
// (UTF-16 surrogate pairs), which mtools cannot display: fsck must accept
// them and the long-name slots must decode back to the name.
func TestSurrogateNames(t *testing.T) {
	name := "emoji 😀 and 𝄞 clef.txt"
	tree := []entry{{name: name, data: []byte("x")}, {name: "d", dir: true}, {name: "d/" + name, data: []byte("y")}}
	img, g := build(t, t.TempDir(), Options{Size: 2 << 20}, tarOf(t, tree))
	fsck(t, img)
	im := readImage(t, img, g)
	var units []uint16
	found := false
	for _, e := range im.dir(0) {
		if e.attr == attrLFN {
			var part []uint16
			for _, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				part = append(part, uint16(e.raw[o])|uint16(e.raw[o+1])<<8)
			}
			units = append(part, units...)
			continue
		}
		for i, u := range units {
			if u == 0 {
				units = units[:i]
				break
			}
		}
		if string(utf16.Decode(units)) == name {
			found = true
			if e.name != "EMOJI_~1TXT" {
				t.Errorf("short name %q", e.name)
			}
		}
		units = nil
	}
	if !found {
		t.Errorf("long name %q not found in the root directory", name)
	}
}
