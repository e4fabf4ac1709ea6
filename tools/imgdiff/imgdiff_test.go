package imgdiff

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/icos-build/icos/tools/gpt"
	"github.com/icos-build/icos/tools/imgdiff/internal/testimg"
	"github.com/icos-build/icos/tools/pack"
	"github.com/icos-build/icos/tools/vfat"
	"github.com/icos-build/icos/tools/zst"
)

// fixtures builds the images the tests compare, once per test binary run.
type fixtures struct {
	dir  string
	ext4 string // base ext4 image
	vfat string // base vfat image
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	// Keep holes: copy only non-zero 4 KiB blocks.
	st, _ := in.Stat()
	buf := make([]byte, 4096)
	var zero [4096]byte
	for off := int64(0); off < st.Size(); off += 4096 {
		n, err := in.ReadAt(buf, off)
		if err != nil && err != io.EOF {
			t.Fatal(err)
		}
		if !bytes.Equal(buf[:n], zero[:n]) {
			if _, err := out.WriteAt(buf[:n], off); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := out.Truncate(st.Size()); err != nil {
		t.Fatal(err)
	}
}

// patch overwrites bytes of a file at off.
func patch(t *testing.T, file string, off int64, data []byte) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, off); err != nil {
		t.Fatal(err)
	}
}

// blockOf returns the physical block of logical block n of a file (debugfs bmap).
func blockOf(t *testing.T, img, file string, n int) int64 {
	t.Helper()
	out := testimg.Debugfs(t, img, false, "bmap "+file+" "+strconv.Itoa(n))
	for _, line := range strings.Split(out, "\n") {
		if v, err := strconv.ParseInt(strings.TrimSpace(line), 10, 64); err == nil {
			return v
		}
	}
	t.Fatalf("bmap %s %d: %q", file, n, out)
	return 0
}

func newFixtures(t *testing.T) *fixtures {
	t.Helper()
	f := &fixtures{dir: t.TempDir()}
	tree := filepath.Join(f.dir, "tree")
	testimg.WriteFile(t, filepath.Join(tree, "usr", "bin", "x"), bytes.Repeat([]byte("0123456789abcdef"), 1024))
	testimg.WriteFile(t, filepath.Join(tree, "etc", "y"), []byte("y\n"))
	testimg.WriteFile(t, filepath.Join(tree, "etc", "sub", "deep"), []byte("deep\n"))
	testimg.WriteFile(t, filepath.Join(tree, "z"), []byte("z\n"))
	err := filepath.Walk(tree, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, time.Unix(1600000000, 0), time.Unix(1600000000, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	f.ext4 = filepath.Join(f.dir, "root.img")
	testimg.Mkfs(t, f.ext4, tree, "8M", "-b", "4096", "-I", "256", "-O", "^has_journal")
	testimg.Debugfs(t, f.ext4, true, "ea_set /z user.k v1", "symlink /link usr/bin/x")
	f.vfat = f.makeFAT(t, "vfat.img", "set timeout=5\n", 1700000000)
	return f
}

// makeFAT writes a vfat image with tools/vfat.
func (f *fixtures) makeFAT(t *testing.T, name, grubCfg string, mtime int64) string {
	t.Helper()
	p := filepath.Join(f.dir, name)
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	w, err := vfat.NewWriter(out, vfat.Options{Size: 4 << 20, Label: "ESP", Serial: 0x1234ABCD, ModTime: mtime})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"EFI", "EFI/BOOT"} {
		if err := w.Mkdir(d); err != nil {
			t.Fatal(err)
		}
	}
	files := []struct{ name, data string }{
		{"EFI/BOOT/grub.cfg", grubCfg},
		{"EFI/BOOT/BOOTX64.EFI", strings.Repeat("efi", 5000)},
		{"Grün Ünïcode.txt", "unicode long name\n"},
	}
	for _, fl := range files {
		if err := w.Create(fl.name, int64(len(fl.data)), strings.NewReader(fl.data), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// disk assembles a GPT disk with tools/gpt from a partitions.csv.
func (f *fixtures) disk(t *testing.T, name, csv string, images map[string]string) string {
	return f.diskTB(t, name, csv, images)
}

func (f *fixtures) diskTB(t testing.TB, name, csv string, images map[string]string) string {
	t.Helper()
	spec, err := gpt.Parse(strings.NewReader(csv), name+".csv")
	if err != nil {
		t.Fatal(err)
	}
	table, err := gpt.Layout(spec, 0, "11111111-2222-3333-4444-555555555555")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(f.dir, name)
	out, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if err := gpt.Assemble(out, table, images); err != nil {
		t.Fatal(err)
	}
	return p
}

const csvA = `esp , 1M, 4M, U, B78084E2-3363-1346-8C25-D426F26B8928
root,   , 8M, L, 6788E4CF-F456-104E-9A34-A2C58CFB0EE6
`

const csvB = `esp , 1M, 4M, U, B78084E2-3363-1346-8C25-D426F26B8928
root,   , 8M, L, 0C4C1F2E-0000-4000-8000-123456789ABC
`

func sum(t *testing.T, p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func TestDiff(t *testing.T) {
	f := newFixtures(t)
	type pair struct{ a, b string }
	dir := t.TempDir()
	cases := []struct {
		name string
		make func(t *testing.T) pair
		want []string // nil: identical
	}{
		{
			name: "identical ext4",
			make: func(t *testing.T) pair {
				b := filepath.Join(t.TempDir(), "b.img")
				copyFile(t, f.ext4, b)
				return pair{f.ext4, b}
			},
		},
		{
			name: "ext4 content bytes",
			make: func(t *testing.T) pair {
				b := filepath.Join(t.TempDir(), "b.img")
				copyFile(t, f.ext4, b)
				patch(t, b, blockOf(t, b, "/usr/bin/x", 0)*4096+10, []byte("X"))
				patch(t, b, blockOf(t, b, "/usr/bin/x", 2)*4096+4095, []byte("X"))
				return pair{f.ext4, b}
			},
			want: []string{
				"ext4: file /usr/bin/x: content differs at bytes 0-4095, 8192-12287",
			},
		},
		{
			name: "ext4 debugfs edits",
			make: func(t *testing.T) pair {
				b := filepath.Join(t.TempDir(), "b.img")
				copyFile(t, f.ext4, b)
				testimg.Debugfs(t, b, true,
					"rm /etc/y",
					"sif /z mode 0100755",
					"sif /z uid 1000",
					"sif /z mtime 20240101000000",
					"ea_set /z user.k v2",
					"ea_set /z security.selinux system_u:object_r:bin_t:s0",
				)
				return pair{f.ext4, b}
			},
			want: []string{
				"ext4: superblock free block count 1899 != 1900",
				"ext4: superblock free inode count 2028 != 2029",
				"ext4: superblock checksum SBCSUM",
				"ext4: file /etc/y: only in A",
				"ext4: file /z: mode 0644 != 0755",
				"ext4: file /z: uid 0 != 1000",
				"ext4: file /z: mtime 1600000000 != 1704067200",
				"ext4: file /z: xattr security.selinux: only in B",
				"ext4: file /z: xattr user.k: \"v1\" != \"v2\"",
				"ext4: superblock: blocks 0-0 differ",
				"ext4: group descriptors: blocks 1-1 differ",
				"ext4: block bitmap of group 0: blocks 2-2 differ",
				"ext4: directory /etc: blocks 8-8 differ",
				"ext4: inode bitmap of group 0: blocks 18-18 differ",
				"ext4: inode table of group 0: blocks 34-35 differ",
				"ext4: inodes 15 (/etc/y), 19 (/z) differ",
			},
		},
		{
			name: "ext4 directory only in B",
			make: func(t *testing.T) pair {
				b := filepath.Join(t.TempDir(), "b.img")
				copyFile(t, f.ext4, b)
				src := filepath.Join(t.TempDir(), "src")
				testimg.WriteFile(t, src, []byte("new\n"))
				testimg.Debugfs(t, b, true, "mkdir /new", "mkdir /new/sub", "write "+src+" /new/sub/file",
					"rm /link", "symlink /link usr/bin/y")
				return pair{f.ext4, b}
			},
			want: []string{
				"ext4: superblock free block count 1899 != 1896",
				"ext4: superblock free inode count 2028 != 2025",
				"ext4: superblock checksum SBCSUM",
				"ext4: file /: link count 5 != 6",
				`ext4: file /link: symlink target "usr/bin/x" != "usr/bin/y"`,
				"ext4: file /new: only in B",
				"ext4: superblock: blocks 0-0 differ",
				"ext4: group descriptors: blocks 1-1 differ",
				"ext4: block bitmap of group 0: blocks 2-2 differ",
				"ext4: directory /: blocks 3-3 differ",
				"ext4: inode bitmap of group 0: blocks 18-18 differ",
				"ext4: unallocated in A, directory /new in B: blocks 20-20 differ",
				"ext4: unallocated in A, directory /new/sub in B: blocks 21-21 differ",
				"ext4: unallocated in A, data of /new/sub/file in B: blocks 22-22 differ",
				"ext4: inode table of group 0: blocks 34-35 differ",
				"ext4: inodes 2 (/), 20 (/link), 21 (/new), 22 (/new/sub), 23 (/new/sub/file) differ",
			},
		},
		{
			name: "vfat file changed",
			make: func(t *testing.T) pair {
				return pair{f.vfat, f.makeFAT(t, "vfat-b.img", "set timeout=1\n", 1700000000)}
			},
			want: []string{
				"vfat: file /EFI/BOOT/grub.cfg: content differs at bytes 0-13",
			},
		},
		{
			name: "vfat times changed",
			make: func(t *testing.T) pair {
				return pair{f.vfat, f.makeFAT(t, "vfat-c.img", "set timeout=5\n", 1700000100)}
			},
			want: []string{
				"vfat: file /EFI: mtime 2023-11-14 22:13:20 != 2023-11-14 22:15:00",
				"vfat: file /EFI: ctime 2023-11-14 22:13:20+00ms != 2023-11-14 22:15:00+00ms",
				"vfat: file /EFI/BOOT: mtime 2023-11-14 22:13:20 != 2023-11-14 22:15:00",
				"vfat: file /EFI/BOOT: ctime 2023-11-14 22:13:20+00ms != 2023-11-14 22:15:00+00ms",
				"vfat: file /EFI/BOOT/BOOTX64.EFI: mtime 2023-11-14 22:13:20 != 2023-11-14 22:15:00",
				"vfat: file /EFI/BOOT/BOOTX64.EFI: ctime 2023-11-14 22:13:20+00ms != 2023-11-14 22:15:00+00ms",
				"vfat: file /EFI/BOOT/grub.cfg: mtime 2023-11-14 22:13:20 != 2023-11-14 22:15:00",
				"vfat: file /EFI/BOOT/grub.cfg: ctime 2023-11-14 22:13:20+00ms != 2023-11-14 22:15:00+00ms",
				"vfat: file /Grün Ünïcode.txt: mtime 2023-11-14 22:13:20 != 2023-11-14 22:15:00",
				"vfat: file /Grün Ünïcode.txt: ctime 2023-11-14 22:13:20+00ms != 2023-11-14 22:15:00+00ms",
				"vfat: directory /: sectors 13-13 differ",
				"vfat: directory /EFI: sectors 85-85 differ",
				"vfat: directory /EFI/BOOT: sectors 89-89 differ",
			},
		},
		{
			name: "GPT partition GUID",
			make: func(t *testing.T) pair {
				imgs := map[string]string{"esp": f.vfat, "root": f.ext4}
				return pair{f.disk(t, "disk-a.img", csvA, imgs), f.disk(t, "disk-b.img", csvB, imgs)}
			},
			want: []string{
				"GPT: partition 2: partition GUID 6788E4CF-F456-104E-9A34-A2C58CFB0EE6 != 0C4C1F2E-0000-4000-8000-123456789ABC",
			},
		},
		{
			name: "disk unallocated regions",
			make: func(t *testing.T) pair {
				imgs := map[string]string{"esp": f.vfat, "root": f.ext4}
				a := f.disk(t, "disk-a.img", csvA, imgs)
				b := filepath.Join(t.TempDir(), "disk-b.img")
				copyFile(t, a, b)
				patch(t, b, 40000, []byte("gap"))
				// A free block of the ext4 partition (5 MiB into the disk).
				patch(t, b, (5<<20)+7<<20+100, []byte("free"))
				return pair{a, b}
			},
			want: []string{
				"partition 2 root (ext4): unallocated: blocks 1792-1792 differ",
				"outside partitions: bytes 39936-40447 differ",
			},
		},
		{
			name: "disk-img.tar.zst",
			make: func(t *testing.T) pair {
				imgs := map[string]string{"esp": f.vfat, "root": f.ext4}
				a := filepath.Join(t.TempDir(), "disk-img.tar.zst")
				b := filepath.Join(t.TempDir(), "disk-img.tar.zst")
				packFiles(t, a, pack.Options{NameInTar: "disk.img"}, f.disk(t, "disk-a.img", csvA, imgs))
				packFiles(t, b, pack.Options{NameInTar: "disk.img"}, f.disk(t, "disk-b.img", csvB, imgs))
				return pair{a, b}
			},
			want: []string{
				"disk.img: GPT: partition 2: partition GUID 6788E4CF-F456-104E-9A34-A2C58CFB0EE6 != 0C4C1F2E-0000-4000-8000-123456789ABC",
			},
		},
		{
			name: "update image",
			make: func(t *testing.T) pair {
				dir := t.TempDir()
				root := filepath.Join(dir, "root.img")
				copyFile(t, f.ext4, root)
				testimg.Debugfs(t, root, true, "sif /usr/bin/x uid 7")
				a := filepath.Join(t.TempDir(), "update-img.tar.zst")
				b := filepath.Join(t.TempDir(), "update-img.tar.zst")
				packFiles(t, a, pack.Options{}, f.ext4, f.vfat, f.version(t, "a", "1.0.0\n"))
				packFiles(t, b, pack.Options{}, root, f.vfat, f.version(t, "b", "1.0.1\n"))
				return pair{a, b}
			},
			want: []string{
				`VERSION.TXT: content "1.0.0\n" != "1.0.1\n"`,
				"root.img (ext4): file /usr/bin/x: uid 0 != 7",
				"root.img (ext4): inode table of group 0: blocks 35-35 differ",
				"root.img (ext4): inodes 18 (/usr/bin/x) differ",
			},
		},
		{
			name: "compression only",
			make: func(t *testing.T) pair {
				a := filepath.Join(dir, "a.tar.zst")
				b := filepath.Join(dir, "b.tar.zst")
				packFiles(t, a, pack.Options{Level: 1}, f.ext4, f.vfat)
				packFiles(t, b, pack.Options{Level: 19}, f.ext4, f.vfat)
				return pair{a, b}
			},
			want: []string{
				"archive: the zstd streams differ; the tar streams inside are identical (sha256 TARSUM)",
			},
		},
		{
			name: "tar against tar.zst",
			make: func(t *testing.T) pair {
				a := filepath.Join(dir, "c.tar.zst")
				packFiles(t, a, pack.Options{}, f.ext4, f.version(t, "c", "1.0.0\n"))
				b := filepath.Join(dir, "c.tar")
				unzstd(t, a, b)
				return pair{a, b}
			},
			want: []string{"archive: compression zstd != none"},
		},
		{
			name: "truncated ext4",
			make: func(t *testing.T) pair {
				b := filepath.Join(t.TempDir(), "b.img")
				copyFile(t, f.ext4, b)
				if err := os.Truncate(b, 100000); err != nil {
					t.Fatal(err)
				}
				return pair{f.ext4, b}
			},
			want: []string{
				"ext4: image size 8388608 != 100000",
				"ext4: cannot compare as ext4 (B: ext4r: /: inode 2: unexpected EOF); comparing bytes",
				"ext4: bytes 100000-8388607 differ",
			},
		},
		{
			name: "ext4 against vfat",
			make: func(t *testing.T) pair { return pair{f.ext4, f.vfat} },
			want: []string{
				"content ext4 != vfat",
				"image size 8388608 != 4194304",
				"bytes 0-81919, 139264-147455, 4194304-8388607 differ",
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := tc.make(t)
			res, err := Diff(p.a, p.b, Options{TempDir: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			want := append([]string(nil), tc.want...)
			for i := range want {
				if strings.Contains(want[i], "TARSUM") {
					want[i] = strings.Replace(want[i], "TARSUM", tarSum(t, p.a), 1)
				}
				// The superblock checksum of a mke2fs-made fixture depends on
				// the e2fsprogs version: expect the values the images hold.
				if strings.Contains(want[i], "SBCSUM") {
					want[i] = strings.Replace(want[i], "SBCSUM", fmt.Sprintf("%#x != %#x", sbChecksum(t, p.a), sbChecksum(t, p.b)), 1)
				}
			}
			if tc.want == nil {
				want = []string{"identical (sha256 " + sum(t, p.a) + ")"}
			}
			if res.Identical != (tc.want == nil) || strings.Join(res.Lines, "\n") != strings.Join(want, "\n") {
				t.Errorf("got (identical %v)\n%s\nwant\n%s", res.Identical, strings.Join(res.Lines, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// sbChecksum returns s_checksum of the ext4 image at p (superblock at byte
// 1024, checksum in its last four bytes).
func sbChecksum(t *testing.T, p string) uint32 {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var b [4]byte
	if _, err := f.ReadAt(b[:], 1024+1020); err != nil {
		t.Fatal(err)
	}
	return binary.LittleEndian.Uint32(b[:])
}

// tarSum returns the sha256 of the tar stream inside a tar.zst.
func tarSum(t *testing.T, p string) string {
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d, err := zstd.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	h := sha256.New()
	if _, err := io.Copy(h, d); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// unzstd decompresses src into dst.
func unzstd(t *testing.T, src, dst string) {
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	d, err := zstd.NewReader(in)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	if _, err := io.Copy(out, d); err != nil {
		t.Fatal(err)
	}
}

// packFiles writes a tar.zst of files with tools/pack (the disk-img and
// update-img format).
func packFiles(t *testing.T, out string, o pack.Options, files ...string) {
	t.Helper()
	if err := pack.Pack(out, files, o); err != nil {
		t.Fatal(err)
	}
}

// version writes a VERSION.TXT in its own directory.
func (f *fixtures) version(t *testing.T, dir, content string) string {
	p := filepath.Join(f.dir, dir, "VERSION.TXT")
	testimg.WriteFile(t, p, []byte(content))
	return p
}

func TestFormatRanges(t *testing.T) {
	var rs []Range
	for i := int64(0); i < 12; i++ {
		rs = addRange(rs, i*10, i*10+5)
	}
	rs = addRange(rs, 115, 200) // adjacent to the last: merged
	for _, tc := range []struct {
		max  int
		want string
	}{
		{10, "0-4, 10-14, 20-24, 30-34, 40-44, 50-54, 60-64, 70-74, 80-84, 90-94 ... and 2 more"},
		{12, "0-4, 10-14, 20-24, 30-34, 40-44, 50-54, 60-64, 70-74, 80-84, 90-94, 100-104, 110-199"},
		{1, "0-4 ... and 11 more"},
	} {
		if got := formatRanges(rs, tc.max); got != tc.want {
			t.Errorf("max %d: %q, want %q", tc.max, got, tc.want)
		}
	}
}

func TestFormatInodes(t *testing.T) {
	got := formatInodes([]Range{{1, 4}}, nil, nil, 2)
	if want := "1 (no path), 2 (no path) ... and 1 more"; got != want {
		t.Errorf("%q, want %q", got, want)
	}
}

// TestUnpackSparse checks that a disk-img.tar.zst written by tools/pack
// (PAX 1.0 GNU sparse entries) unpacks to the same bytes, with its holes.
func TestUnpackSparse(t *testing.T) {
	f := newFixtures(t)
	disk := f.disk(t, "disk.img", csvA, map[string]string{"esp": f.vfat, "root": f.ext4})
	out := filepath.Join(t.TempDir(), "disk-img.tar.zst")
	packFiles(t, out, pack.Options{NameInTar: "disk.img"}, disk)
	a, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	dir := t.TempDir()
	ar, err := unpack(a, dir)
	if err != nil {
		t.Fatal(err)
	}
	m := ar.members["disk.img"]
	if ar.compression != "zstd" || len(ar.order) != 1 || m == nil || m.file == "" {
		t.Fatalf("unpacked %+v", ar)
	}
	if m.hdr.Typeflag != '0' {
		t.Errorf("typeflag %q", m.hdr.Typeflag)
	}
	if x, y := sum(t, m.file), sum(t, disk); x != y {
		t.Errorf("unpacked disk.img sha256 %s, want %s", x, y)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(m.file, &st); err != nil {
		t.Fatal(err)
	}
	if st.Blocks*512 >= st.Size/2 {
		t.Errorf("unpacked disk.img allocates %d of %d bytes: holes were filled", st.Blocks*512, st.Size)
	}
}

// TestDiffRepeatable runs the same comparison twice, with different temporary
// directories and umasks, and expects the same report.
func TestDiffRepeatable(t *testing.T) {
	f := newFixtures(t)
	b := filepath.Join(t.TempDir(), "b.img")
	copyFile(t, f.ext4, b)
	testimg.Debugfs(t, b, true, "rm /etc/y", "sif /z mode 0100600")
	var reports []string
	for _, mask := range []int{0o022, 0o077} {
		old := syscall.Umask(mask)
		res, err := Diff(f.ext4, b, Options{TempDir: t.TempDir(), MaxRanges: 3})
		syscall.Umask(old)
		if err != nil {
			t.Fatal(err)
		}
		reports = append(reports, strings.Join(res.Lines, "\n"))
	}
	if reports[0] != reports[1] || !strings.Contains(reports[0], "file /etc/y: only in A") {
		t.Errorf("reports differ or miss a line:\n%s\n---\n%s", reports[0], reports[1])
	}
}

// TestUnpackBadZstd: a tar.zst cut short (halfway, just before or inside
// the content checksum) or with bytes after its last frame fails to
// unpack, naming the file and the compressed offset.
func TestUnpackBadZstd(t *testing.T) {
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	data := bytes.Repeat([]byte("member data "), 20000)
	tw.WriteHeader(&tar.Header{Name: "boot.img", Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
	tw.Write(data)
	tw.Close()
	tarBuf.Write(make([]byte, 8192)) // record padding, as GNU tar writes it
	var z bytes.Buffer
	zw, err := zst.NewWriter(&z, zst.Options{Level: 1, Concurrency: 1})
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(tarBuf.Bytes())
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	n := z.Len()
	cases := []struct {
		name string
		in   []byte
		want error
		off  int
	}{
		{"cut in the tar", z.Bytes()[:n/2], zst.ErrTruncated, n / 2},
		{"cut before the checksum", z.Bytes()[:n-4], zst.ErrTruncated, n - 4},
		{"cut in the checksum", z.Bytes()[:n-1], zst.ErrTruncated, n - 1},
		{"trailing zeros", append(append([]byte{}, z.Bytes()...), make([]byte, 16)...), zst.ErrCorrupt, n},
	}
	dir := t.TempDir()
	for i, tc := range cases {
		p := filepath.Join(dir, fmt.Sprintf("in%d.tar.zst", i))
		testimg.WriteFile(t, p, tc.in)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		_, err = unpack(f, t.TempDir())
		f.Close()
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), p+": ") || !strings.Contains(err.Error(), fmt.Sprintf("zst: offset %d: ", tc.off)) {
			t.Errorf("%s: err = %v, want %v at offset %d naming %s", tc.name, err, tc.want, tc.off, p)
		}
	}
}
