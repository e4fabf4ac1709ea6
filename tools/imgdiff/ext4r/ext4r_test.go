package ext4r_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/imgdiff/ext4r"
	"github.com/icos-build/icos/tools/imgdiff/internal/testimg"
)

// makeTree writes the fixture tree: a deep directory chain, a directory with
// 2000 entries (an htree), fast and slow symlinks, a hard link and a sparse
// file with 12 data runs (more than the 4 extents an inode holds).
func makeTree(t *testing.T, dir string) {
	deep := dir
	for i := 0; i < 10; i++ {
		deep = filepath.Join(deep, fmt.Sprintf("level%d", i))
	}
	testimg.WriteFile(t, filepath.Join(deep, "leaf.txt"), []byte("deep leaf\n"))
	for i := 0; i < 2000; i++ {
		testimg.WriteFile(t, filepath.Join(dir, "many", fmt.Sprintf("file-%04d", i)), []byte(fmt.Sprintf("content %d\n", i)))
	}
	if err := os.Symlink("many/file-0001", filepath.Join(dir, "fast")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(strings.Repeat("long/", 30)+"target", filepath.Join(dir, "slow")); err != nil {
		t.Fatal(err)
	}
	frag, err := os.Create(filepath.Join(dir, "frag.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 12; i++ {
		if _, err := frag.WriteAt(bytes.Repeat([]byte{byte('a' + i)}, 5000), int64(i)*65536); err != nil {
			t.Fatal(err)
		}
	}
	if err := frag.Truncate(12*65536 + 100); err != nil {
		t.Fatal(err)
	}
	frag.Close()
	testimg.WriteFile(t, filepath.Join(dir, "etc", "passwd"), []byte("root:x:0:0::/root:/bin/sh\n"))
	if err := os.Link(filepath.Join(dir, "etc", "passwd"), filepath.Join(dir, "etc", "passwd.link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "etc"), 0o750); err != nil {
		t.Fatal(err)
	}
}

var eaLine = regexp.MustCompile(`^  (\S+ \(\d+\))`)

type lsEntry struct {
	ino      uint32
	mode     uint64
	uid, gid uint32
	size     string
}

// parseLs parses `debugfs -f` output of `ls -p` requests into directory
// inode -> name -> entry.
func parseLs(t *testing.T, out string) map[uint32]map[string]lsEntry {
	res := map[uint32]map[string]lsEntry{}
	var cur map[string]lsEntry
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "/") {
			continue
		}
		f := strings.Split(line, "/")
		if len(f) != 8 {
			t.Fatalf("unexpected ls -p line %q", line)
		}
		ino, _ := strconv.ParseUint(f[1], 10, 32)
		mode, _ := strconv.ParseUint(f[2], 8, 32)
		uid, _ := strconv.ParseUint(f[3], 10, 32)
		gid, _ := strconv.ParseUint(f[4], 10, 32)
		e := lsEntry{uint32(ino), mode, uint32(uid), uint32(gid), f[6]}
		if f[5] == "." {
			cur = map[string]lsEntry{}
			res[e.ino] = cur
			continue
		}
		if f[5] != ".." && e.ino != 0 {
			cur[f[5]] = e
		}
	}
	return res
}

func TestReaderMatchesDebugfs(t *testing.T) {
	src := t.TempDir()
	makeTree(t, src)
	big := filepath.Join(t.TempDir(), "big-xattr")
	testimg.WriteFile(t, big, bytes.Repeat([]byte("x"), 700))
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"4k-256-64bit", []string{"-b", "4096", "-I", "256", "-O", "64bit"}},
		{"1k-128", []string{"-b", "1024", "-I", "128", "-O", "^64bit"}},
		{"block-mapped", []string{"-b", "4096", "-I", "256", "-O", "^extents,^64bit,^flex_bg,^huge_file"}},
		{"inline-data", []string{"-b", "4096", "-I", "256", "-O", "inline_data"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := filepath.Join(t.TempDir(), "fs.img")
			testimg.Mkfs(t, img, src, "48M", tc.args...)
			testimg.Debugfs(t, img, true,
				"ea_set /etc/passwd user.small hello",
				"ea_set /etc/passwd security.selinux system_u:object_r:etc_t:s0",
				"ea_set -f "+big+" /frag.bin user.big",
				"ea_set /fast user.onlink yes",
			)
			testimg.Reindex(t, img)
			testimg.Check(t, img)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r, err := ext4r.Open(f, 0)
			if err != nil {
				t.Fatal(err)
			}
			files, err := r.Walk()
			if err != nil {
				t.Fatal(err)
			}
			byPath := map[string]ext4r.File{}
			var reqs []string
			for _, file := range files {
				byPath[file.Path] = file
				if file.Inode.IsDir() {
					reqs = append(reqs, "ls -p "+file.Path)
				}
			}
			listing := parseLs(t, testimg.Debugfs(t, img, false, reqs...))
			if len(listing) != len(reqs) {
				t.Fatalf("debugfs listed %d directories, reader found %d", len(listing), len(reqs))
			}
			for _, file := range files {
				if !file.Inode.IsDir() {
					continue
				}
				ents, err := r.ReadDir(file.Inode)
				if err != nil {
					t.Fatal(err)
				}
				want := listing[file.Inode.Ino]
				if len(ents) != len(want) {
					t.Errorf("%s: reader has %d entries, debugfs %d", file.Path, len(ents), len(want))
				}
				for _, e := range ents {
					w, ok := want[e.Name]
					in := byPath[filepath.Join(file.Path, e.Name)].Inode
					got := lsEntry{e.Ino, uint64(in.Mode), in.UID, in.GID, ""}
					if !in.IsDir() {
						got.size = strconv.FormatUint(in.Size, 10)
					}
					if !ok || got != w {
						t.Errorf("%s/%s: reader %+v, debugfs %+v", file.Path, e.Name, got, w)
					}
				}
			}
			if n := len(listing[byPath["/many"].Inode.Ino]); n != 2000 {
				t.Errorf("/many has %d entries, want 2000", n)
			}
			if byPath["/many"].Inode.Flags&0x1000 == 0 {
				t.Errorf("/many is not an htree directory: the fixture does not test htree reading")
			}

			// Content and symlinks against rdump.
			out := t.TempDir()
			testimg.Debugfs(t, img, false, "rdump / "+out)
			seen := 0
			err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
				if err != nil || p == out {
					return err
				}
				rel := "/" + filepath.ToSlash(strings.TrimPrefix(p, out+"/"))
				file, ok := byPath[rel]
				if !ok {
					t.Errorf("rdump has %s, the reader does not", rel)
					return nil
				}
				seen++
				switch {
				case d.Type()&fs.ModeSymlink != 0:
					want, _ := os.Readlink(p)
					got, err := r.Symlink(file.Inode)
					if err != nil || got != want {
						t.Errorf("%s: symlink %q (%v), want %q", rel, got, err, want)
					}
				case d.Type().IsRegular():
					want, _ := os.ReadFile(p)
					ext, _, err := r.Extents(file.Inode)
					if err != nil {
						t.Fatal(err)
					}
					got, err := r.ReadAll(file.Inode, ext)
					if file.Inode.Inline() && bytes.HasPrefix(want, got) && len(bytes.Trim(want[len(got):], "\x00")) == 0 {
						// debugfs 1.47.0 rdump pads inline-data files with
						// zeros to the inline area size.
						want = want[:len(got)]
					}
					if err != nil || !bytes.Equal(got, want) {
						t.Errorf("%s: content differs from rdump (%v): %q != %q", rel, err, got[:min(len(got), 40)], want[:min(len(want), 40)])
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if seen != len(files)-1 {
				t.Errorf("rdump extracted %d files, the reader found %d", seen, len(files)-1)
			}
			if !byPath["/fast"].Inode.Inline() || byPath["/slow"].Inode.Inline() {
				t.Errorf("fast/slow symlink detection wrong")
			}
			ext, meta, err := r.Extents(byPath["/frag.bin"].Inode)
			if err != nil || len(ext) < 12 || len(meta) == 0 {
				t.Errorf("frag.bin: %d extents, %d tree blocks (%v); want >= 12 and a tree of depth > 0", len(ext), len(meta), err)
			}

			// Extended attributes against ea_list.
			for _, p := range []string{"/etc/passwd", "/frag.bin", "/fast", "/many/file-0000"} {
				xs, err := r.Xattrs(byPath[p].Inode)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, x := range xs {
					got = append(got, fmt.Sprintf("%s (%d)", x.Name, len(x.Value)))
				}
				var want []string
				for _, line := range strings.Split(testimg.Debugfs(t, img, false, "ea_list "+p), "\n") {
					if m := eaLine.FindStringSubmatch(line); m != nil && !strings.HasPrefix(m[1], "system.data ") {
						want = append(want, m[1])
					}
				}
				sort.Strings(want)
				if strings.Join(got, ",") != strings.Join(want, ",") {
					t.Errorf("%s: xattrs %v, debugfs %v", p, got, want)
				}
			}
			xs, _ := r.Xattrs(byPath["/etc/passwd"].Inode)
			if len(xs) != 2 || string(xs[1].Value) != "hello" {
				t.Errorf("/etc/passwd xattrs %q", xs)
			}

			// Every block the reader maps is allocated in the bitmap.
			l, err := r.NewLayout(files)
			if err != nil {
				t.Fatal(err)
			}
			regs, err := l.Describe(0, r.SB.BlocksCount)
			if err != nil {
				t.Fatal(err)
			}
			kinds := map[ext4r.Kind]bool{}
			for _, reg := range regs {
				kinds[reg.Kind] = true
				if reg.Kind == ext4r.KindUnowned {
					t.Errorf("blocks %d-%d allocated but not mapped by the reader", reg.Start, reg.Start+reg.Len-1)
				}
			}
			for _, k := range []ext4r.Kind{ext4r.KindMeta, ext4r.KindFileData, ext4r.KindDirectory, ext4r.KindMap, ext4r.KindXattr, ext4r.KindJournal, ext4r.KindFree} {
				if !kinds[k] {
					t.Errorf("layout has no region of kind %d", k)
				}
			}
		})
	}
}
