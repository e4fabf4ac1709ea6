package vfat

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// entry is one item of a test tree.
type entry struct {
	name string // canonical path
	dir  bool
	data []byte
	mode int64
	link string // hard link target
}

// pseudo returns n deterministic bytes that are not all zero.
func pseudo(seed, n int) []byte {
	b := make([]byte, n)
	x := uint32(seed)*2654435761 + 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// testTree returns a tree exercising every naming and layout corner; scale
// multiplies the size of the bigger files.
func testTree(scale int) []entry {
	es := []entry{
		{name: "EFI", dir: true},
		{name: "EFI/BOOT", dir: true},
		{name: "EFI/BOOT/BOOTX64.EFI", data: pseudo(1, 50_000*scale)},
		{name: "README.TXT", data: []byte("upper 8.3: no long name\n")},
		{name: "readme2.txt", data: []byte("lower 8.3: NT case flags\n")},
		{name: "lower.TXT", data: []byte("lower base only\n")},
		{name: "MixedCase.Txt", data: []byte("mixed: long name, short MIXEDC~1.TXT\n")},
		{name: "ReadMe3.txt", data: []byte("mixed 8.3: long name, short README3.TXT\n")},
		{name: "grubenv", data: append([]byte("# GRUB Environment Block\n"), bytes.Repeat([]byte("#"), 1024-25)...)},
		{name: "empty", data: nil},
		{name: "readonly.cfg", data: []byte("ro\n"), mode: 0o444},
		{name: "with spaces in name.conf", data: []byte("spaces\n")},
		{name: "ünïcode näme 日本語 Ωμέγα.txt", data: []byte("unicode\n")},
		{name: strings.Repeat("long", 60) + ".ext", data: []byte("240-character name\n")},
		{name: "sparse.bin", data: append(append(pseudo(2, 5000), make([]byte, 40_000*scale)...), pseudo(3, 3000)...)},
		{name: "emptydir", dir: true},
		{name: "hardlink.efi", link: "EFI/BOOT/BOOTX64.EFI"},
	}
	// ~ collisions: many names sharing a 6-character prefix in one dir.
	es = append(es, entry{name: "collide", dir: true})
	for i := 0; i < 40; i++ {
		es = append(es, entry{name: fmt.Sprintf("collide/prefix file %02d.data", i), data: pseudo(10+i, 100+i)})
	}
	// Deep directories.
	p := "deep"
	for i := 0; i < 12; i++ {
		es = append(es, entry{name: p, dir: true})
		p += fmt.Sprintf("/Level %d", i)
	}
	es = append(es, entry{name: p, dir: true}, entry{name: p + "/bottom.txt", data: []byte("bottom\n")})
	// A directory needing more than one cluster of entries.
	es = append(es, entry{name: "big dir", dir: true})
	for i := 0; i < 70; i++ {
		es = append(es, entry{name: fmt.Sprintf("big dir/entry with a long name number %03d", i), data: []byte{byte(i)}})
	}
	return es
}

// tarOf encodes a tree as a tar stream, with hostile-free names in the
// order given.
func tarOf(t testing.TB, es []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range es {
		h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		switch {
		case e.dir:
			h.Name, h.Typeflag, h.Mode, h.Size = e.name+"/", tar.TypeDir, 0o755, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Size = tar.TypeLink, e.link, 0
		}
		if e.mode != 0 {
			h.Mode = e.mode
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(e.data); err != nil && h.Size > 0 {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// build writes an image from a tar into dir and returns its path.
func build(t testing.TB, dir string, o Options, tarball []byte) (string, Geometry) {
	t.Helper()
	img := filepath.Join(dir, "fat.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, o)
	if err != nil {
		t.Fatal(err)
	}
	if err := AddTar(w, bytes.NewReader(tarball)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return img, w.Geometry()
}

// expected returns the final content of a tree: path -> data (nil for dirs).
func expected(es []entry) map[string][]byte {
	m := map[string][]byte{}
	for _, e := range es {
		switch {
		case e.dir:
			m[e.name] = nil
		case e.link != "":
			m[e.name] = m[e.link]
		default:
			m[e.name] = append([]byte{}, e.data...)
		}
	}
	return m
}

// roundTrip extracts the image with `mcopy -s` and compares every file and
// directory with the tree, both ways; a few files are also read with mtype.
func roundTrip(t *testing.T, img string, es []entry) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}
	mtool(t, "mcopy", "-s", "-n", "-i", img, "::/*", out+"/")
	want := expected(es)
	got := map[string]bool{}
	err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == out {
			return err
		}
		rel, _ := filepath.Rel(out, p)
		got[rel] = true
		data, ok := want[rel]
		switch {
		case !ok:
			t.Errorf("extra entry %q in the image", rel)
		case d.IsDir() != (data == nil && isDir(es, rel)):
			t.Errorf("%q: directory %v in the image", rel, d.IsDir())
		case !d.IsDir():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if !bytes.Equal(b, data) {
				t.Errorf("%q: content differs (%d bytes read, %d written)", rel, len(b), len(data))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name := range want {
		if !got[name] {
			t.Errorf("%q missing from the image", name)
		}
	}
	for _, name := range []string{"README.TXT", "ünïcode näme 日本語 Ωμέγα.txt", "EFI/BOOT/BOOTX64.EFI", "sparse.bin"} {
		if d, ok := want[name]; ok {
			if b := mtool(t, "mtype", "-i", img, "::/"+name); !bytes.Equal(b, d) {
				t.Errorf("mtype %q: content differs", name)
			}
		}
	}
}

func isDir(es []entry, name string) bool {
	for _, e := range es {
		if e.name == name {
			return e.dir
		}
	}
	return false
}

// checkRaw checks what no tool reports: exact size, identical FATs, FSInfo,
// backup boot sector, entry encodings, ".." clusters and timestamps.
func checkRaw(t *testing.T, img string, g Geometry, o Options) {
	t.Helper()
	st, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != o.Size {
		t.Errorf("image is %d bytes, want %d", st.Size(), o.Size)
	}
	im := readImage(t, img, g)
	if !bytes.Equal(im.fats[0], im.fats[1]) {
		t.Errorf("the two FAT copies differ")
	}
	boot := im.read(0, 16*512)
	if boot[21] != 0xF8 || im.fat(0)&0xFF != 0xF8 {
		t.Errorf("media byte %#x, FAT[0] %#x", boot[21], im.fat(0))
	}
	var free uint32
	for c := uint32(2); c < g.Clusters+2; c++ {
		if im.fat(c) == 0 {
			free++
		}
	}
	if g.Type == FAT32 {
		if !bytes.Equal(boot[0:512], boot[6*512:7*512]) || !bytes.Equal(boot[512:1024], boot[7*512:8*512]) {
			t.Errorf("backup boot sector or FSInfo copy differs")
		}
		fi := boot[512:1024]
		if binary.LittleEndian.Uint32(fi[0:]) != 0x41615252 || binary.LittleEndian.Uint32(fi[484:]) != 0x61417272 || binary.LittleEndian.Uint32(fi[508:]) != 0xAA550000 {
			t.Errorf("FSInfo signatures wrong")
		}
		if got := binary.LittleEndian.Uint32(fi[488:]); got != free {
			t.Errorf("FSInfo free count %d, FAT has %d free", got, free)
		}
		if next := binary.LittleEndian.Uint32(fi[492:]); next < 2 || next >= g.Clusters+2 || im.fat(next) == 0 || next+1 < g.Clusters+2 && im.fat(next+1) != 0 {
			t.Errorf("FSInfo next-free hint %d is not the last allocated cluster", next)
		}
	}
	ts := encodeTime(o.ModTime)
	checkTimes := func(where string, e rawEntry) {
		le := binary.LittleEndian
		if e.attr == attrLFN {
			return
		}
		if le.Uint16(e.raw[14:]) != ts.time || le.Uint16(e.raw[16:]) != ts.date || le.Uint16(e.raw[18:]) != ts.date ||
			le.Uint16(e.raw[22:]) != ts.time || le.Uint16(e.raw[24:]) != ts.date || e.raw[13] != ts.tenths {
			t.Errorf("%s %q: timestamps differ from --mtime", where, e.name)
		}
	}
	root := im.dir(0)
	byName := map[string]int{}
	for i, e := range root {
		byName[e.name] = i
		checkTimes("/", e)
	}
	if o.Label != "" {
		if len(root) == 0 || root[0].attr != attrVolumeID || strings.TrimRight(root[0].name, " ") != o.Label {
			t.Errorf("no volume label entry %q first in the root", o.Label)
		}
	}
	for _, tc := range []struct {
		short string
		ntres byte
		lfn   bool
		attr  byte
	}{
		{"README  TXT", 0, false, attrArchive},
		{"README2 TXT", caseLowerBase | caseLowerExt, false, attrArchive},
		{"LOWER   TXT", caseLowerBase, false, attrArchive},
		{"MIXEDC~1TXT", 0, true, attrArchive},
		{"README3 TXT", 0, true, attrArchive},
		{"READONLYCFG", caseLowerBase | caseLowerExt, false, attrArchive | attrReadOnly},
		{"EFI        ", 0, false, attrDir},
	} {
		i, ok := byName[tc.short]
		if !ok {
			t.Errorf("no root entry %q", tc.short)
			continue
		}
		e := root[i]
		hasLFN := i > 0 && root[i-1].attr == attrLFN
		if e.ntres != tc.ntres || hasLFN != tc.lfn || e.attr != tc.attr {
			t.Errorf("%q: ntres %#x lfn %v attr %#x, want %#x %v %#x", tc.short, e.ntres, hasLFN, e.attr, tc.ntres, tc.lfn, tc.attr)
		}
	}
	// "." and ".." of a top-level directory and of a nested one.
	efi := root[byName["EFI        "]]
	sub := im.dir(efi.cluster)
	if len(sub) < 3 || sub[0].name != ".          " || sub[0].cluster != efi.cluster || sub[1].name != "..         " || sub[1].cluster != 0 {
		t.Fatalf("/EFI: bad dot entries %+v", sub[:min(2, len(sub))])
	}
	var bootDir rawEntry
	for _, e := range sub {
		checkTimes("/EFI", e)
		if e.name == "BOOT       " {
			bootDir = e
		}
	}
	if nested := im.dir(bootDir.cluster); len(nested) < 2 || nested[0].cluster != bootDir.cluster || nested[1].cluster != efi.cluster {
		t.Errorf("/EFI/BOOT: \"..\" is not /EFI's cluster %d", efi.cluster)
	}
}

// TestImages builds the test tree at sizes from 1 MiB to 2 GiB, on both
// sides of the FAT12/FAT16 and FAT16/FAT32 cluster-count boundaries, and
// checks each with fsck.vfat, minfo, mdir, mcopy and mtype.
func TestImages(t *testing.T) {
	small := testTree(1)
	type tc struct {
		name string
		o    Options
		want Type
	}
	cases := []tc{
		{"1MiB", Options{Size: 1 << 20}, FAT12},
		{"8MiB", Options{Size: 8 << 20, Label: "EFI SYSTEM"}, FAT12},
		{"9MiB", Options{Size: 9 << 20}, FAT16},
		{"100MiB-esp", Options{Size: 100 << 20, Label: "ESP", Serial: 0x12345678, ModTime: 1700000001}, FAT16},
		{"50MiB-config-fat32", Options{Size: 50 << 20, Type: FAT32, Label: "CONFIG", Serial: 0xCAFEF00D}, FAT32},
		{"600MiB", Options{Size: 600 << 20, ModTime: 4102444800}, FAT32},
		{"2GiB", Options{Size: 2 << 30, Label: "BIG"}, FAT32},
		{"prime-sector-count", Options{Size: 4099 * 512}, FAT12},
		{"odd-MiB-fraction", Options{Size: 77<<20 + 3*512, ModTime: 1 << 40}, FAT16},
	}
	// Exact cluster-count boundaries with 512-byte clusters.
	for _, b := range []struct {
		typ Type
		n   uint32
	}{{FAT12, 4084}, {FAT16, 4085}, {FAT16, 65524}, {FAT32, 65525}} {
		size := sizeFor(t, b.typ, 512, b.n)
		cases = append(cases, tc{fmt.Sprintf("%d-clusters", b.n), Options{Size: size, ClusterSize: 512, Label: "EDGE"}, b.typ})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tree := small
			if c.o.Size >= 50<<20 {
				tree = testTree(20) // a few MiB
			}
			c.o.Serial |= 1
			img, g := build(t, t.TempDir(), c.o, tarOf(t, tree))
			if g.Type != c.want {
				t.Fatalf("FAT%d, want FAT%d", g.Type, c.want)
			}
			if bits := fsck(t, img); bits != int(c.want) {
				t.Errorf("fsck.vfat sees %d-bit FATs, want %d", bits, c.want)
			}
			info := minfo(t, img)
			if got, want := info["serial number"], fmt.Sprintf("%08X", c.o.Serial); !strings.EqualFold(got, want) {
				t.Errorf("minfo serial %q, want %q", got, want)
			}
			label := c.o.Label
			if label == "" {
				label = "NO NAME"
			}
			if got := strings.TrimRight(info["disk label"], " "); got != label {
				t.Errorf("minfo label %q, want %q", got, label)
			}
			if got, want := strings.TrimSpace(info["disk type"]), fmt.Sprintf("FAT%d", c.want); got != want {
				t.Errorf("minfo disk type %q, want %q", got, want)
			}
			if c.o.Label != "" {
				if out := mtool(t, "mdir", "-i", img, "::/"); !bytes.Contains(out, []byte("Volume in drive : is "+c.o.Label)) {
					t.Errorf("mdir does not show label %q:\n%s", c.o.Label, out)
				}
			}
			roundTrip(t, img, tree)
			checkRaw(t, img, g, c.o)
			if c.o.Size == 2<<30 {
				// Only metadata and the few MiB of content are allocated.
				st, _ := os.Stat(img)
				if used := st.Sys().(*syscall.Stat_t).Blocks * 512; used > 16<<20 {
					t.Errorf("2 GiB image uses %d bytes on disk, want a sparse file", used)
				}
			}
		})
	}
}

// TestRecursiveListing checks the short names mtools lists for the ~
// collision directory.
func TestRecursiveListing(t *testing.T) {
	tree := testTree(1)
	img, _ := build(t, t.TempDir(), Options{Size: 4 << 20}, tarOf(t, tree))
	out := string(mtool(t, "mdir", "-/", "-a", "-i", img, "::/"))
	var shorts []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasSuffix(l, ".data") && strings.Contains(l, "prefix file") {
			shorts = append(shorts, strings.Join(strings.Fields(l)[:2], "."))
		}
	}
	if len(shorts) != 40 {
		t.Fatalf("mdir lists %d collide/ files, want 40:\n%s", len(shorts), out)
	}
	for i, s := range shorts {
		want := fmt.Sprintf("PREFIX~%d.DAT", i+1)
		if i >= 9 {
			want = fmt.Sprintf("PREFI~%d.DAT", i+1)
		}
		if s != want {
			t.Errorf("entry %d: short name %s, want %s", i, s, want)
		}
	}
	for _, dir := range []string{"Directory for ::/deep/Level 0/Level 1/Level 2/Level 3/Level 4/Level 5/Level 6/Level 7/Level 8/Level 9/Level 10/Level 11", "Directory for ::/big dir", "Directory for ::/emptydir"} {
		if !strings.Contains(out, dir) {
			t.Errorf("mdir -/ does not list %q", dir)
		}
	}
}

// TestFsckDetectsCorruption makes sure the checks above can fail.
func TestFsckDetectsCorruption(t *testing.T) {
	tree := testTree(1)
	for _, tc := range []struct {
		name   string
		o      Options
		damage func(im *image)
	}{
		{"fat copies differ", Options{Size: 4 << 20}, func(im *image) { im.patch(int64(im.g.FATStart(1))*512+7, ^im.fats[1][7]) }},
		{"fsinfo free count", Options{Size: 64 << 20, Type: FAT32}, func(im *image) { im.patch(512+488, im.read(512+488, 1)[0]+1) }},
		{"dotdot", Options{Size: 4 << 20}, func(im *image) {
			for _, e := range im.dir(0) {
				if e.attr == attrDir {
					im.patch(im.g.ClusterOffset(e.cluster)+32+26, 5) // ".." -> cluster 5
					return
				}
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, g := build(t, t.TempDir(), tc.o, tarOf(t, tree))
			im := readImage(t, img, g)
			tc.damage(im)
			if out, rc := run(t, "fsck.vfat", "dosfstools", "-n", img); rc == 0 {
				t.Errorf("fsck.vfat accepts the damaged image:\n%s", out)
			}
		})
	}
}

func TestTooBig(t *testing.T) {
	tree := []entry{{name: "a", data: pseudo(1, 600_000)}, {name: "b", data: pseudo(2, 600_000)}, {name: "c", data: []byte("c")}}
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, Options{Size: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := AddTar(w, bytes.NewReader(tarOf(t, tree))); err != nil {
		t.Fatal(err)
	}
	err = w.Close()
	if !errors.Is(err, ErrNoSpace) {
		t.Fatalf("Close: %v, want ErrNoSpace", err)
	}
	// Both sizes: the whole content (3 files + root), the image's capacity.
	needed := fmt.Sprintf("needs %d bytes", (293+293+1)*2048)
	for _, want := range []string{needed, "1048576-byte FAT12 image", fmt.Sprintf("room for %d bytes", 502*2048)} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
}

func TestNamesAndTypes(t *testing.T) {
	hdr := func(name string, typ byte, size int64) *tar.Header {
		return &tar.Header{Name: name, Typeflag: typ, Size: size, Mode: 0o644}
	}
	for _, tc := range []struct {
		name    string
		headers []*tar.Header
		want    string
	}{
		{"dotdot", []*tar.Header{hdr("a/../../etc/passwd", tar.TypeReg, 0)}, `"a/../../etc/passwd"`},
		{"absolute", []*tar.Header{hdr("/etc/passwd", tar.TypeReg, 0)}, `"/etc/passwd"`},
		{"symlink", []*tar.Header{{Name: "link", Typeflag: tar.TypeSymlink, Linkname: "target"}}, `"link": symlinks`},
		{"device", []*tar.Header{{Name: "dev/null", Typeflag: tar.TypeChar, Devmajor: 1, Devminor: 3}}, `"dev/null": device`},
		{"fifo", []*tar.Header{{Name: "fifo", Typeflag: tar.TypeFifo}}, `"fifo": device`},
		{"hardlink escapes", []*tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "../x"}}, `hard link "h"`},
		{"hardlink missing", []*tar.Header{{Name: "h", Typeflag: tar.TypeLink, Linkname: "x"}}, `hard link "h": target "x"`},
		{"hardlink to dir", []*tar.Header{hdr("d/", tar.TypeDir, 0), {Name: "h", Typeflag: tar.TypeLink, Linkname: "d"}}, `hard link "h": target "d"`},
		{"case collision", []*tar.Header{hdr("README.txt", tar.TypeReg, 0), hdr("readme.TXT", tar.TypeReg, 0)}, `"readme.TXT": collides with "README.txt"`},
		{"duplicate", []*tar.Header{hdr("a", tar.TypeReg, 0), hdr("a", tar.TypeReg, 0)}, `"a": already exists`},
		{"file then dir", []*tar.Header{hdr("a", tar.TypeReg, 0), hdr("a/b", tar.TypeReg, 0)}, `"a/b": "a" is a file`},
		{"colon", []*tar.Header{hdr("c:d", tar.TypeReg, 0)}, `"c:d": character ':'`},
		{"trailing dot", []*tar.Header{hdr("dir./x", tar.TypeReg, 0)}, `"dir.": FAT names cannot end`},
		{"too long", []*tar.Header{hdr(strings.Repeat("é", 200), tar.TypeReg, 0)}, `component longer than 255 bytes`},
		{"root file", []*tar.Header{hdr(".", tar.TypeReg, 0)}, `root directory is not a file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for _, h := range tc.headers {
				if err := tw.WriteHeader(h); err != nil {
					// archive/tar refuses some names itself; write raw.
					t.Fatalf("%q: %v", h.Name, err)
				}
			}
			tw.Close()
			f, err := os.Create(filepath.Join(t.TempDir(), "img"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			w, err := NewWriter(f, Options{Size: 1 << 20})
			if err != nil {
				t.Fatal(err)
			}
			err = AddTar(w, &buf)
			if err == nil {
				err = w.Close()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

// TestOrderIndependentDirectories checks that directory entries are sorted:
// the same files in another tar order give the same directories.
func TestOrderIndependentDirectories(t *testing.T) {
	tree := testTree(1)
	rev := append([]entry{}, tree...)
	sort.SliceStable(rev, func(i, j int) bool { return rev[i].name > rev[j].name })
	// Hard links must follow their target.
	var files, links []entry
	for _, e := range rev {
		if e.link != "" {
			links = append(links, e)
		} else {
			files = append(files, e)
		}
	}
	rev = append(files, links...)
	a, g := build(t, t.TempDir(), Options{Size: 4 << 20}, tarOf(t, tree))
	b, _ := build(t, t.TempDir(), Options{Size: 4 << 20}, tarOf(t, rev))
	fsck(t, b)
	roundTrip(t, b, rev)
	ia, ib := readImage(t, a, g), readImage(t, b, g)
	na, nb := names(ia.dir(0)), names(ib.dir(0))
	if na != nb {
		t.Errorf("root directories differ:\n%s\n%s", na, nb)
	}
}

func names(es []rawEntry) string {
	var s []string
	for _, e := range es {
		if e.attr != attrLFN {
			s = append(s, e.name)
		}
	}
	return strings.Join(s, "|")
}

// TestRootDirectoryFull checks the fixed FAT12/16 root directory limit.
func TestRootDirectoryFull(t *testing.T) {
	var tree []entry
	for i := 0; i < 300; i++ {
		tree = append(tree, entry{name: fmt.Sprintf("root file with a long name %03d", i), data: []byte{1}})
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "img"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := NewWriter(f, Options{Size: 16 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := AddTar(w, bytes.NewReader(tarOf(t, tree))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err == nil || !strings.Contains(err.Error(), "root directory needs 1200 entries but the FAT16 root holds 512") {
		t.Fatalf("Close: %v", err)
	}
	// FAT32 has no such limit.
	img, _ := build(t, t.TempDir(), Options{Size: 40 << 20, Type: FAT32}, tarOf(t, tree))
	fsck(t, img)
	roundTrip(t, img, tree)
}

// TestFullVolumes fills every cluster: the FSInfo free count drops to zero
// and directories that end exactly at a cluster boundary have no end mark.
func TestFullVolumes(t *testing.T) {
	for _, o := range []Options{{Size: 1 << 20}, {Size: 34 << 20, Type: FAT32}, {Size: 9 << 20}} {
		t.Run(fmt.Sprintf("FAT%d-%d", o.Type, o.Size), func(t *testing.T) {
			g, err := Plan(o)
			if err != nil {
				t.Fatal(err)
			}
			cb := int(g.ClusterBytes())
			// One directory whose entries fill exactly one cluster: "." and
			// ".." plus cb/32-2 short names.
			tree := []entry{{name: "D", dir: true}}
			for i := 0; i < cb/32-2; i++ {
				tree = append(tree, entry{name: fmt.Sprintf("D/F%d", i)})
			}
			dirs := 1
			if g.Type == FAT32 {
				dirs++ // the root
			}
			tree = append(tree, entry{name: "FILL.BIN", data: pseudo(5, (int(g.Clusters)-dirs)*cb)})
			img, g := build(t, t.TempDir(), o, tarOf(t, tree))
			fsck(t, img)
			if g.Type != FAT32 {
				roundTrip(t, img, tree) // mtools is slow with 65k 512-byte clusters
			}
			im := readImage(t, img, g)
			fill := tree[len(tree)-1].data
			for _, e := range im.dir(0) {
				if e.name == "FILL    BIN" && !bytes.Equal(im.read(g.ClusterOffset(e.cluster), int64(len(fill))), fill) {
					t.Errorf("FILL.BIN content differs")
				}
			}
			for c := uint32(2); c < g.Clusters+2; c++ {
				if im.fat(c) == 0 {
					t.Fatalf("cluster %d is free in a full volume", c)
				}
			}
			if g.Type == FAT32 {
				fi := im.read(512, 512)
				if free, next := binary.LittleEndian.Uint32(fi[488:]), binary.LittleEndian.Uint32(fi[492:]); free != 0 || next != g.Clusters+1 {
					t.Errorf("FSInfo free %d next %d, want 0 and %d", free, next, g.Clusters+1)
				}
			}
			// One byte more does not fit.
			tree[len(tree)-1].data = append(tree[len(tree)-1].data, 1)
			f, _ := os.Create(filepath.Join(t.TempDir(), "img"))
			defer f.Close()
			w, _ := NewWriter(f, o)
			if err := AddTar(w, bytes.NewReader(tarOf(t, tree))); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); !errors.Is(err, ErrNoSpace) {
				t.Errorf("one byte over: %v", err)
			}
		})
	}
}
