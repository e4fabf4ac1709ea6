package ext4r_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/imgdiff/ext4r"
	"github.com/icos-build/icos/tools/imgdiff/internal/testimg"
)

// TestErrorPrefix checks that errors name the package once, at the start,
// however deep they are raised.
func TestErrorPrefix(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	testimg.WriteFile(t, filepath.Join(src, "etc", "passwd"), []byte("root\n"))
	img := filepath.Join(dir, "fs.img")
	testimg.Mkfs(t, img, src, "4M")
	good, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := ext4r.Open(bytes.NewReader(good), 0)
	if err != nil {
		t.Fatal(err)
	}
	// The inode table of group 0, cut off: the root inode cannot be read.
	truncated := good[:fs.Groups[0].InodeTable*uint64(fs.BlockSize())]
	for _, c := range []struct {
		name string
		run  func() error
		want string
	}{
		{"no magic", func() error {
			_, err := ext4r.Open(bytes.NewReader(make([]byte, 4096)), 0)
			if !errors.Is(err, ext4r.ErrNotExt4) {
				t.Errorf("err %v, want ErrNotExt4", err)
			}
			return err
		}, "ext4r: no ext2/3/4 superblock magic"},
		{"walk of a truncated image", func() error {
			fs, err := ext4r.Open(bytes.NewReader(truncated), 0)
			if err != nil {
				return err
			}
			_, err = fs.Walk()
			return err
		}, "ext4r: /: inode 2: "},
		{"inode out of range", func() error {
			_, err := fs.Inode(0)
			return err
		}, "ext4r: inode 0 out of range"},
		{"not a directory", func() error {
			files, err := fs.Walk()
			if err != nil {
				return err
			}
			for _, f := range files {
				if f.Path == "/etc/passwd" {
					_, err := fs.ReadDir(f.Inode)
					return err
				}
			}
			t.Fatal("no /etc/passwd")
			return nil
		}, "ext4r: inode "},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.run()
			if err == nil || !strings.HasPrefix(err.Error(), c.want) || strings.Count(err.Error(), "ext4") != 1 {
				t.Errorf("err %v, want it to start with %q and name the package once", err, c.want)
			}
		})
	}
}
