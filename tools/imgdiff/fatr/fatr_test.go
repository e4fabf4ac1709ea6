package fatr_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/imgdiff/fatr"
	"github.com/icos-build/icos/tools/imgdiff/internal/testimg"

	"github.com/icos-build/icos/tools/internal/testutil"
)

func mtools(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(testutil.Tool(t, name, "mtools"), args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1", "TZ=UTC", "LC_ALL=C.UTF-8")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// TestReaderMatchesMtools builds FAT12/16/32 volumes with mkfs.fat and
// mcopy, then checks the reader's tree and contents against mcopy's
// extraction.
func TestReaderMatchesMtools(t *testing.T) {
	src := t.TempDir()
	testimg.WriteFile(t, filepath.Join(src, "EFI", "BOOT", "BOOTX64.EFI"), bytes.Repeat([]byte("efi!"), 10000))
	testimg.WriteFile(t, filepath.Join(src, "a long file name with spaces.txt"), []byte("long name\n"))
	testimg.WriteFile(t, filepath.Join(src, "grubenv"), []byte("# GRUB Environment Block\n"))
	testimg.WriteFile(t, filepath.Join(src, "Mixed.Case"), []byte("mixed\n"))
	testimg.WriteFile(t, filepath.Join(src, "empty"), nil)
	for i := 0; i < 40; i++ {
		testimg.WriteFile(t, filepath.Join(src, "dir", "sub", fmt.Sprintf("entry-with-long-name-%02d.conf", i)), []byte{byte(i)})
	}
	mkfs := testutil.Tool(t, "mkfs.fat", "dosfstools")
	for _, tc := range []struct {
		bits int
		size int64
	}{{12, 4 << 20}, {16, 32 << 20}, {32, 40 << 20}} {
		t.Run(fmt.Sprintf("FAT%d", tc.bits), func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fat.img")
			testimg.Run(t, mkfs, "-F", fmt.Sprint(tc.bits), "-i", "12345678", "-n", "ESP", "-C", img, fmt.Sprint(tc.size/1024))
			entries, _ := os.ReadDir(src)
			for _, e := range entries {
				mtools(t, "mcopy", "-s", "-i", img, filepath.Join(src, e.Name()), "::/")
			}
			out := filepath.Join(t.TempDir(), "out")
			mtools(t, "mcopy", "-s", "-n", "-i", img, "::/", out)

			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := fatr.Open(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			if r.Bits != tc.bits {
				t.Fatalf("FAT%d, want FAT%d", r.Bits, tc.bits)
			}
			if l, err := r.Label(); err != nil || l != "ESP" {
				t.Errorf("label %q (%v), want ESP", l, err)
			}
			list, err := r.Walk()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]*fatr.Entry{}
			for i := range list {
				got[list[i].Path] = &list[i]
			}
			n := 0
			err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == out {
					return err
				}
				n++
				rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, out+"/"))
				e, ok := got[rel]
				if !ok {
					t.Errorf("mcopy extracted %s, the reader does not have it", rel)
					return nil
				}
				if d.IsDir() != e.IsDir() {
					t.Errorf("%s: directory %v, mcopy %v", rel, e.IsDir(), d.IsDir())
				}
				if !d.IsDir() {
					want, _ := os.ReadFile(p)
					buf := make([]byte, e.Size)
					if _, err := r.ReadAt(e, buf, 0); err != nil && len(buf) > 0 {
						t.Errorf("%s: %v", rel, err)
					}
					if !bytes.Equal(buf, want) {
						t.Errorf("%s: content differs from mcopy", rel)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if n != len(list)-1 {
				t.Errorf("mcopy extracted %d entries, the reader found %d", n, len(list)-1)
			}
			l := r.NewLayout(list)
			regs := l.Describe(0, uint64(r.BPB.TotalSectors))
			for _, reg := range regs {
				if strings.Contains(reg.What, "unknown") {
					t.Errorf("sectors %d-%d: %s", reg.Start, reg.Start+reg.Len-1, reg.What)
				}
			}
			if regs[0].What != "boot sector" || !strings.Contains(fmt.Sprint(regs), "FAT 2") {
				t.Errorf("layout %v", regs[:3])
			}
		})
	}
}

// TestOEMShortName checks that a short name with a byte of the OEM code page
// (as mcopy writes "grün.cfg" without a long name) is escaped.
func TestOEMShortName(t *testing.T) {
	img := filepath.Join(t.TempDir(), "fat.img")
	testimg.Run(t, testutil.Tool(t, "mkfs.fat", "dosfstools"), "-F", "16", "-C", img, "32768")
	p := filepath.Join(t.TempDir(), "grün.cfg")
	testimg.WriteFile(t, p, []byte("x"))
	mtools(t, "mcopy", "-i", img, p, "::/")
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := fatr.Open(f, 0)
	if err != nil {
		t.Fatal(err)
	}
	list, err := r.Walk()
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[1].Path != `/gr\x9an.cfg` || list[1].ShortName != `GR\x9aN.CFG` {
		t.Errorf("entries %+v", list)
	}
}
