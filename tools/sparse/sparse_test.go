package sparse

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/internal/testutil"
	"github.com/icos-build/icos/tools/zst"
	"github.com/klauspost/compress/zstd"
)

// fileSpec describes a test file: its size and where its data lies.
type fileSpec struct {
	name string
	size int64
	data []Segment
}

const mib = 1 << 20

var specs = []fileSpec{
	{"trailing-hole.img", 64 * mib, []Segment{{0, mib / 2}, {10 * mib, mib / 2}}},
	{"leading-hole.img", 64 * mib, []Segment{{32 * mib, mib / 2}, {64*mib - mib/2, mib / 2}}},
	{"all-zero.img", 8 * mib, nil},
	{"dense.bin", 3*BlockSize + 17, []Segment{{0, 3*BlockSize + 17}}},
	{"odd-tail.bin", 5*BlockSize + 100, []Segment{{BlockSize, 10}, {5 * BlockSize, 100}}},
	{"empty", 0, nil},
}

// makeFile creates spec under dir as a sparse file with random bytes in its
// data segments (no byte of which is zero, so Scan must find exactly them
// at block granularity).
func makeFile(t testing.TB, dir string, s fileSpec, seed int64) string {
	t.Helper()
	p := filepath.Join(dir, s.name)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(s.size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(seed))
	for _, seg := range s.data {
		b := make([]byte, seg.Length)
		rng.Read(b)
		for i := range b {
			b[i] |= 1
		}
		if _, err := f.WriteAt(b, seg.Offset); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// wantSegments is what Scan must report: the data rounded out to blocks
// (clipped at the end of the file), merged.
func wantSegments(s fileSpec) []Segment {
	var out []Segment
	for _, d := range s.data {
		start := d.Offset &^ (BlockSize - 1)
		end := min((d.Offset+d.Length+BlockSize-1)&^(BlockSize-1), s.size)
		if k := len(out) - 1; k >= 0 && out[k].Offset+out[k].Length >= start {
			out[k].Length = end - out[k].Offset
			continue
		}
		out = append(out, Segment{start, end - start})
	}
	return out
}

func TestScan(t *testing.T) {
	dir := t.TempDir()
	for i, s := range specs {
		t.Run(s.name, func(t *testing.T) {
			f, err := os.Open(makeFile(t, dir, s, int64(i)))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			got, err := Scan(f, s.size)
			if err != nil {
				t.Fatal(err)
			}
			if want := wantSegments(s); !reflect.DeepEqual(got, want) {
				t.Fatalf("Scan = %v, want %v", got, want)
			}
		})
	}
}

func TestScanMergesAdjacentBlocks(t *testing.T) {
	b := make([]byte, 6*BlockSize)
	b[BlockSize+5] = 1      // block 1
	b[2*BlockSize] = 1      // block 2
	b[5*BlockSize+4095] = 1 // block 5
	got, err := Scan(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	want := []Segment{{BlockSize, 2 * BlockSize}, {5 * BlockSize, BlockSize}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}

func TestScanShortReader(t *testing.T) {
	if _, err := Scan(bytes.NewReader(make([]byte, 100)), 5000); err == nil {
		t.Fatal("Scan of a reader shorter than size succeeded")
	}
}

// writeArchive packs files into a tar with the sparse Writer.
func writeArchive(t testing.TB, paths, names []string, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		if err := w.AddFile(names[i], f, st.Size()); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func makeAll(t *testing.T) (dir string, paths, names []string) {
	dir = t.TempDir()
	for i, s := range specs {
		paths = append(paths, makeFile(t, dir, s, int64(i)))
		names = append(names, s.name)
	}
	// A long name that needs the ustar prefix field for the
	// GNUSparseFile.0 header, and one too long for ustar altogether.
	long := strings.Repeat("d", 120) + "/" + strings.Repeat("f", 90)
	longer := strings.Repeat("e", 200) + "/" + strings.Repeat("g", 150)
	for _, n := range []string{long, longer} {
		paths = append(paths, paths[0])
		names = append(names, n)
	}
	return dir, paths, names
}

// TestGoReaderRoundTrip reads our archive back with archive/tar, which
// understands PAX 1.0 sparse entries, and compares names, metadata and
// contents.
func TestGoReaderRoundTrip(t *testing.T) {
	_, paths, names := makeAll(t)
	mtime := time.Unix(1700000000, 0)
	arch := writeArchive(t, paths, names, Options{ModTime: mtime})
	tr := tar.NewReader(bytes.NewReader(arch))
	for i := range names {
		hdr, err := tr.Next()
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		want, _ := os.ReadFile(paths[i])
		if hdr.Name != names[i] || hdr.Size != int64(len(want)) || hdr.Mode != FileMode ||
			hdr.Uid != 0 || hdr.Gid != 0 || hdr.Uname != "" || hdr.Gname != "" || !hdr.ModTime.Equal(mtime) {
			t.Fatalf("entry %d: header %+v", i, hdr)
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("%s: %v", names[i], err)
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: contents differ", names[i])
		}
	}
	if _, err := tr.Next(); err != io.EOF {
		t.Fatalf("expected end of archive, got %v", err)
	}
}

// TestGNUTarExtracts extracts our archive with GNU tar and checks that each
// file compares equal to its input and that holes stay holes: the
// allocated size is about the data size.
func TestGNUTarExtracts(t *testing.T) {
	tarBin := testutil.Tool(t, "tar", "tar")
	_, paths, names := makeAll(t)
	cmpBin := testutil.Tool(t, "cmp", "diffutils")
	arch := writeArchive(t, paths, names, Options{})
	out := t.TempDir()
	cmd := exec.Command(tarBin, "-xf", "-", "-C", out)
	cmd.Stdin = bytes.NewReader(arch)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tar -x: %v\n%s", err, b)
	}
	for i, n := range names {
		got := filepath.Join(out, n)
		if b, err := exec.Command(cmpBin, paths[i], got).CombinedOutput(); err != nil {
			t.Fatalf("cmp %s: %v\n%s", n, err, b)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(got, &st); err != nil {
			t.Fatal(err)
		}
		var data int64
		if i < len(specs) {
			data = DataSize(wantSegments(specs[i]))
		} else {
			data = DataSize(wantSegments(specs[0]))
		}
		if alloc := st.Blocks * 512; alloc > data+256<<10 {
			t.Errorf("%s: %d bytes allocated for %d bytes of data", n, alloc, data)
		}
		if i == 0 && st.Size != 64*mib {
			t.Errorf("%s: size %d, trailing hole lost", n, st.Size)
		}
	}
}

// TestSparseLayout checks the exact bytes of a small sparse entry: the 'x'
// header, its records and the map with the trailing-hole entry.
func TestSparseLayout(t *testing.T) {
	b := make([]byte, 3*BlockSize)
	copy(b[BlockSize:], "hello")
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Options{})
	if err := w.AddFile("./boot/disk.img", bytes.NewReader(b), int64(len(b))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	a := buf.Bytes()
	if got := string(bytes.TrimRight(a[0:100], "\x00")); got != "boot/PaxHeaders.0/disk.img" || a[156] != 'x' {
		t.Fatalf("x header name %q type %q", got, a[156])
	}
	wantPAX := "22 GNU.sparse.major=1\n22 GNU.sparse.minor=0\n33 GNU.sparse.name=boot/disk.img\n29 GNU.sparse.realsize=12288\n"
	if got := string(bytes.TrimRight(a[512:1024], "\x00")); got != wantPAX {
		t.Fatalf("PAX records %q, want %q", got, wantPAX)
	}
	if got := string(bytes.TrimRight(a[1024:1124], "\x00")); got != "boot/GNUSparseFile.0/disk.img" || a[1024+156] != '0' {
		t.Fatalf("sparse header name %q", got)
	}
	if got, want := string(bytes.TrimRight(a[1536:2048], "\x00")), "2\n4096\n4096\n12288\n0\n"; got != want {
		t.Fatalf("map %q, want %q", got, want)
	}
	if !bytes.HasPrefix(a[2048:], []byte("hello\x00")) {
		t.Fatal("data segment not after the map")
	}
	// header, records, header, map, one data block, two end blocks
	if len(a)%512 != 0 || len(a) < 2048+BlockSize+1024 {
		t.Fatalf("archive length %d", len(a))
	}
}

func TestPAXRecordLength(t *testing.T) {
	for _, v := range []string{"", "x", strings.Repeat("y", 85), strings.Repeat("y", 86), strings.Repeat("z", 990)} {
		r := paxRecord("k", v)
		sp := strings.IndexByte(r, ' ')
		if r[:sp] != strconv.Itoa(len(r)) {
			t.Errorf("record %q: length prefix %s, actual %d", r, r[:sp], len(r))
		}
	}
}

func TestBadInput(t *testing.T) {
	for _, name := range []string{"../x", "/abs", "", "./"} {
		w, _ := NewWriter(io.Discard, Options{})
		if err := w.AddFile(name, bytes.NewReader(nil), 0); err == nil {
			t.Errorf("AddFile(%q) succeeded", name)
		}
	}
	if _, err := NewWriter(io.Discard, Options{ModTime: time.Unix(-1, 0)}); err == nil {
		t.Error("negative mtime accepted")
	}
}

// TestHugeSparseHeaders checks the headers of entries too big for ustar
// fields (a 16 TiB image with 9 GiB of data): archive/tar must read back
// the real name and size, and the stored size must be in a PAX record.
func TestHugeSparseHeaders(t *testing.T) {
	const tib = 1 << 40
	segs := []Segment{{0, 1 << 30}, {2 * tib, 8 << 30}}
	name := strings.Repeat("n", 150) + "/disk.img"
	head, stored, err := sparseHeaders(name, 16*tib, segs, 0)
	if err != nil {
		t.Fatal(err)
	}
	if stored != 512+9<<30 {
		t.Fatalf("stored %d", stored)
	}
	if !bytes.Contains(head, []byte(" size="+strconv.FormatInt(stored, 10)+"\n")) {
		t.Fatal("no PAX size record")
	}
	tr := tar.NewReader(bytes.NewReader(head))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatal(err)
	}
	if hdr.Name != name || hdr.Size != 16*tib {
		t.Fatalf("read back %q size %d", hdr.Name, hdr.Size)
	}
	// Trailing hole: the map ends with (realsize, 0).
	if !bytes.Contains(head, []byte("3\n0\n1073741824\n2199023255552\n8589934592\n17592186044416\n0\n")) {
		t.Fatal("map not as expected")
	}
}

// TestScanFileHoles: scanning an *os.File (which skips the holes the file
// system reports) gives the same segments as scanning the same bytes from
// memory, with allocated zero blocks, unaligned data and holes at both ends.
func TestScanFileHoles(t *testing.T) {
	type write struct {
		off  int64
		data []byte
	}
	blk := func(b byte, n int) []byte { return bytes.Repeat([]byte{b}, n) }
	tests := []struct {
		name   string
		size   int64
		writes []write
	}{
		{"all hole", 64 << 20, nil},
		{"data in the middle", 64 << 20, []write{{10 << 20, blk(1, 4096)}}},
		{"allocated zeros between data", 32 << 20, []write{{0, blk(2, 100)}, {4096, blk(0, 1<<20)}, {(1 << 20) + 8192, blk(3, 5)}}},
		{"unaligned data, trailing data", 8<<20 + 123, []write{{4095, blk(4, 2)}, {8<<20 + 120, blk(5, 3)}}},
		{"data across chunk boundary", 4 << 20, []write{{scanChunk - 10, blk(6, 20)}}},
		{"short last block", 10000, []write{{9999, blk(7, 1)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := os.Create(filepath.Join(t.TempDir(), "img"))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(tc.size); err != nil {
				t.Fatal(err)
			}
			mem := make([]byte, tc.size)
			for _, w := range tc.writes {
				if _, err := f.WriteAt(w.data, w.off); err != nil {
					t.Fatal(err)
				}
				copy(mem[w.off:], w.data)
			}
			got, err := Scan(f, tc.size)
			if err != nil {
				t.Fatal(err)
			}
			want, err := Scan(bytes.NewReader(mem), tc.size)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("file scan %v, memory scan %v", got, want)
			}
		})
	}
}

// TestOpenImageArchive: an .img.tar.zst archive of one sparse image opens
// as that image (size known up front, holes as zeros); an archive with two
// entries fails while reading, naming the file.
func TestOpenImageArchive(t *testing.T) {
	_, paths, names := makeAll(t)
	dir := t.TempDir()
	write := func(name string, n int) string {
		arch := writeArchive(t, paths[:n], names[:n], Options{})
		var buf bytes.Buffer
		enc, err := zstd.NewWriter(&buf)
		if err != nil {
			t.Fatal(err)
		}
		enc.Write(arch)
		enc.Close()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	{
		p := write("one.img.tar.zst", 1)
		img, err := OpenImage(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(img)
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		want, _ := os.ReadFile(paths[0])
		if !bytes.Equal(got, want) || img.Size != int64(len(want)) {
			t.Fatalf("read %d bytes (Size %d), want the %d bytes of %s", len(got), img.Size, len(want), names[0])
		}
	}
	two := write("two.img.tar.zst", 2)
	img, err := OpenImage(two)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if _, err := io.ReadAll(img); err == nil || !strings.Contains(err.Error(), "more than one entry") || !strings.Contains(err.Error(), two) {
		t.Fatalf("two entries: err = %v", err)
	}
	if got := ImageName("/x/partition-hostlvm.img.tar.zst"); got != "partition-hostlvm.img" {
		t.Errorf("ImageName = %q", got)
	}
	if got := ImageName("boot.img.zst"); got != "boot.img" {
		t.Errorf("ImageName = %q", got)
	}
}

// TestOpenImageCut: a truncated compressed image (.zst or .img.tar.zst),
// one with bytes after its last frame, and an .img.tar.zst whose tar is
// cut short inside a complete zstd stream all fail while copying, as
// `zstd -t` rejects the files; the intact files copy whole.
func TestOpenImageCut(t *testing.T) {
	img := make([]byte, 3*mib)
	copy(img[mib:], bytes.Repeat([]byte("partition data "), 4096))
	copy(img[len(img)-4096:], bytes.Repeat([]byte("tail"), 1024))
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	tw.WriteHeader(&tar.Header{Name: "root.img", Mode: 0o644, Size: int64(len(img)), Typeflag: tar.TypeReg})
	tw.Write(img)
	tw.Close()
	compress := func(b []byte) []byte {
		var out bytes.Buffer
		w, err := zst.NewWriter(&out, zst.Options{Level: 1, Concurrency: 1})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	raw := compress(img)
	archive := compress(tarBuf.Bytes())
	tarCut := compress(tarBuf.Bytes()[:tarBuf.Len()-1536-4096]) // ends 4 KiB before the image does

	zstdBin := testutil.Tool(t, "zstd", "zstd")
	dir := t.TempDir()
	type input struct {
		name  string
		data  []byte
		valid bool
	}
	var inputs []input
	for _, base := range []struct {
		name string
		data []byte
	}{{"root.img.zst", raw}, {"root.img.tar.zst", archive}} {
		n := len(base.data)
		inputs = append(inputs, input{base.name, base.data, true})
		for _, cut := range []int{0, 1, 4, 6, n / 3, n / 2, n - 10, n - 5, n - 4, n - 3, n - 1} {
			inputs = append(inputs, input{fmt.Sprintf("cut%d-%s", cut, base.name), base.data[:cut], false})
		}
		inputs = append(inputs,
			input{"trailing-x-" + base.name, append(append([]byte{}, base.data...), 'x'), false},
			input{"trailing-zeros-" + base.name, append(append([]byte{}, base.data...), 0, 0, 0, 0), false})
	}
	inputs = append(inputs, input{"tarcut-root.img.tar.zst", tarCut, true}) // valid zstd, short tar
	for _, in := range inputs {
		p := filepath.Join(dir, in.name)
		if err := os.WriteFile(p, in.data, 0o644); err != nil {
			t.Fatal(err)
		}
		zerr := exec.Command(zstdBin, "-t", "-q", p).Run()
		if (zerr == nil) != in.valid {
			t.Fatalf("%s: zstd -t: %v, want valid %v", in.name, zerr, in.valid)
		}
		out, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		n, err := copyImageFile(p, out)
		out.Close()
		switch {
		case in.name == "tarcut-root.img.tar.zst":
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Errorf("%s: copied %d bytes, err = %v, want io.ErrUnexpectedEOF", in.name, n, err)
			}
		case in.valid:
			if err != nil || n != int64(len(img)) {
				t.Errorf("%s: copied %d bytes, err = %v", in.name, n, err)
			}
		case !errors.Is(err, zst.ErrTruncated) && !errors.Is(err, zst.ErrCorrupt):
			t.Errorf("%s: copied %d of %d bytes, err = %v, want a zst error", in.name, n, len(img), err)
		}
	}
}

// copyImageFile opens the image at p and copies it to w.
func copyImageFile(p string, w io.WriterAt) (int64, error) {
	img, err := OpenImage(p)
	if err != nil {
		return 0, err
	}
	defer img.Close()
	return CopySparse(w, 0, 1<<40, img)
}

// TestCopyImage: CopyImage places raw, .zst and .img.tar.zst images at an
// offset keeping holes, and rejects images larger than the limit (before
// copying when the size is known, after reading otherwise) and missing
// files, with errors naming the file.
func TestCopyImage(t *testing.T) {
	dir := t.TempDir()
	data := make([]byte, 3*BlockSize)
	copy(data[BlockSize:], "data in the middle block")
	raw := filepath.Join(dir, "a.img")
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	var zbuf bytes.Buffer
	enc, err := zstd.NewWriter(&zbuf)
	if err != nil {
		t.Fatal(err)
	}
	enc.Write(data)
	enc.Close()
	zpath := filepath.Join(dir, "a.img.zst")
	if err := os.WriteFile(zpath, zbuf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{raw, zpath} {
		out, err := os.Create(filepath.Join(dir, "out"))
		if err != nil {
			t.Fatal(err)
		}
		const off = 2 * BlockSize
		if err := CopyImage(out, off, int64(len(data)), path); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		got, _ := io.ReadAll(out)
		out.Close()
		if want := append(make([]byte, off), data[:2*BlockSize]...); !bytes.Equal(got, want) {
			t.Errorf("%s: output of %d bytes differs (trailing zero block must stay a hole)", path, len(got))
		}
	}
	for _, tc := range []struct{ name, path, want string }{
		{"raw too large", raw, "sparse: " + raw + ": image larger than its destination: image is 12288 bytes, destination 8192 bytes"},
		{"zst too large", zpath, "sparse: copying " + zpath + ": image larger than its destination: image is 12288 bytes, destination 8192 bytes"},
		{"missing", filepath.Join(dir, "nope.img"), "sparse: open " + filepath.Join(dir, "nope.img") + ": no such file or directory"},
	} {
		out, err := os.Create(filepath.Join(dir, "out2"))
		if err != nil {
			t.Fatal(err)
		}
		err = CopyImage(out, 0, 2*BlockSize, tc.path)
		out.Close()
		if err == nil || err.Error() != tc.want {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
		if strings.Contains(tc.name, "large") && !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s: %v does not wrap ErrTooLarge", tc.name, err)
		}
	}
}
