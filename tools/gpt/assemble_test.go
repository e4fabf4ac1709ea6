package gpt

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/sparse"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// buildDisk does what `icos disk` does.
func buildDisk(csv, out string, size int64, guid string, images map[string]string) error {
	in, err := os.Open(csv)
	if err != nil {
		return err
	}
	defer in.Close()
	spec, err := Parse(in, csv)
	if err != nil {
		return err
	}
	tab, err := Layout(spec, size, guid)
	if err != nil {
		return err
	}
	f, err := outfile.Create(out, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := Assemble(f.File, tab, images); err != nil {
		return err
	}
	return f.Commit()
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

func run(t *testing.T, name string, args ...string) string {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// imageData returns seeded random data of n bytes where every fourth
// 4 KiB block is zero, so copies have both data and holes.
func imageData(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	for off := 0; off < n; off += 4 * sparse.BlockSize {
		clear(b[off:min(off+sparse.BlockSize, n)])
	}
	return b
}

func writeFile(t *testing.T, path string, data []byte) string {
	t.Helper()
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func writeZst(t *testing.T, path string, data []byte) string {
	t.Helper()
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, path, enc.EncodeAll(data, nil))
}

const testDiskGUID = "5A3A3E6B-0D5C-4E8E-9B7E-6C2D1F0A9B11"

// smallDisk writes the testdata/small.csv images into dir and returns the
// image map and the uncompressed content per partition.
func smallDisk(t *testing.T, dir string) (map[string]string, map[string][]byte) {
	data := map[string][]byte{
		"esp":    imageData(1, 2<<20),         // fills its partition
		"grub":   imageData(2, 1<<20+3*512+7), // ends mid-sector
		"config": imageData(3, 700<<10),
		"A_boot": make([]byte, 3<<20), // all zero: stays a hole
		"A_root": imageData(5, 5<<20),
	}
	images := map[string]string{
		"esp":    writeFile(t, filepath.Join(dir, "esp.img"), data["esp"]),
		"grub":   writeFile(t, filepath.Join(dir, "grub.img"), data["grub"]),
		"config": writeZst(t, filepath.Join(dir, "config.img.zst"), data["config"]),
		"A_boot": writeFile(t, filepath.Join(dir, "boot.img"), data["A_boot"]),
		"A_root": writeZst(t, filepath.Join(dir, "root.img.zst"), data["A_root"]),
	}
	return images, data
}

func TestAssemble(t *testing.T) {
	sgdisk := testutil.Tool(t, "sgdisk", "gdisk")
	sfdisk := testutil.Tool(t, "sfdisk", "fdisk")
	dir := t.TempDir()
	images, data := smallDisk(t, dir)
	disk := filepath.Join(dir, "disk.img")
	const size = 64 << 20
	if err := buildDisk("testdata/small.csv", disk, size, testDiskGUID, images); err != nil {
		t.Fatal(err)
	}
	in, err := os.Open("testdata/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	spec, err := Parse(in, "small.csv")
	in.Close()
	if err != nil {
		t.Fatal(err)
	}
	tab, err := Layout(spec, size, testDiskGUID)
	if err != nil {
		t.Fatal(err)
	}

	if out := run(t, sgdisk, "-v", disk); !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v:\n%s", out)
	}

	field := func(out, re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no %q in sgdisk output:\n%s", re, out)
		}
		return m[1]
	}
	for _, p := range tab.Partitions {
		out := run(t, sgdisk, "-i", strconv.Itoa(p.Index), disk)
		got := []string{
			field(out, `Partition name: '([^']*)'`),
			field(out, `Partition unique GUID: (\S+)`),
			field(out, `Partition GUID code: (\S+)`),
			field(out, `First sector: (\d+)`),
			field(out, `Last sector: (\d+)`),
		}
		want := []string{p.Name, p.GUID, p.Type, fmt.Sprint(p.Start / 512), fmt.Sprint(p.End()/512 - 1)}
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("sgdisk -i %d: got %v, want %v", p.Index, got, want)
		}
	}
	wantNames := "esp grub config A_boot A_root B_boot B_root store"
	var names []string
	for _, p := range tab.Partitions {
		names = append(names, p.Name)
	}
	if strings.Join(names, " ") != wantNames {
		t.Errorf("partitions %v, want %s", names, wantNames)
	}
	if last := tab.Partitions[len(tab.Partitions)-1]; last.End() != 63<<20 {
		t.Errorf("rest partition ends at %d, want 63 MiB", last.End())
	}

	var sf struct {
		PartitionTable struct {
			Label      string `json:"label"`
			ID         string `json:"id"`
			LastLBA    int64  `json:"lastlba"`
			SectorSize int64  `json:"sectorsize"`
			Partitions []struct {
				Start, Size      int64
				Type, UUID, Name string
			} `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal([]byte(run(t, sfdisk, "--json", disk)), &sf); err != nil {
		t.Fatalf("sfdisk --json: %v", err)
	}
	pt := sf.PartitionTable
	if pt.Label != "gpt" || pt.ID != testDiskGUID || pt.SectorSize != 512 || pt.LastLBA != size/512-34 {
		t.Errorf("sfdisk: label %s id %s sector %d lastlba %d", pt.Label, pt.ID, pt.SectorSize, pt.LastLBA)
	}
	if len(pt.Partitions) != len(tab.Partitions) {
		t.Fatalf("sfdisk lists %d partitions, want %d", len(pt.Partitions), len(tab.Partitions))
	}
	for i, p := range tab.Partitions {
		s := pt.Partitions[i]
		if s.Start != p.Start/512 || s.Size != p.Size/512 || s.Type != p.Type || s.UUID != p.GUID || s.Name != p.Name {
			t.Errorf("sfdisk partition %d: %+v, want %+v", i+1, s, p)
		}
	}

	content, err := os.ReadFile(disk)
	if err != nil {
		t.Fatal(err)
	}
	if len(content) != size {
		t.Fatalf("disk is %d bytes, want %d", len(content), size)
	}
	for _, p := range tab.Partitions {
		got := content[p.Start:p.End()]
		want := data[p.Name]
		if !bytes.Equal(got[:len(want)], want) {
			t.Errorf("partition %s: content differs from its image", p.Name)
		}
		if !allZero(got[len(want):]) {
			t.Errorf("partition %s: not zero after its %d-byte image", p.Name, len(want))
		}
	}
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

func TestSparse(t *testing.T) {
	dir := t.TempDir()
	csv := writeFile(t, filepath.Join(dir, "p.csv"), []byte("a,,8G,L,\nb,,rest,L,\n"))
	b := append(make([]byte, 8<<20), imageData(7, 1<<20)...)
	images := map[string]string{
		"a": writeFile(t, filepath.Join(dir, "a.img"), imageData(6, 4<<20)),
		"b": writeZst(t, filepath.Join(dir, "b.img.zst"), b),
	}
	disk := filepath.Join(dir, "disk.img")
	const size = 20 << 30
	if err := buildDisk(csv, disk, size, "", images); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(disk)
	if err != nil {
		t.Fatal(err)
	}
	allocated := st.Sys().(*syscall.Stat_t).Blocks * 512
	// 4 MiB + 1 MiB of data, a quarter of it zero blocks, plus the GPTs.
	if st.Size() != size || allocated > 6<<20 {
		t.Fatalf("disk: size %d, allocated %d bytes; want %d and at most 6 MiB", st.Size(), allocated, size)
	}
	t.Logf("20 GiB disk with 5 MiB of data: %d KiB allocated", allocated>>10)
}

func TestImageTooLarge(t *testing.T) {
	dir := t.TempDir()
	csv := writeFile(t, filepath.Join(dir, "p.csv"), []byte("a,,1M,L,\n"))
	data := imageData(8, 1<<20+4096)
	for _, tc := range []struct{ name, path, wantErr string }{
		{"raw", writeFile(t, filepath.Join(dir, "a.img"), data), "gpt: partition a: sparse: " + filepath.Join(dir, "a.img") + ": image larger than its destination: image is 1052672 bytes, destination 1048576 bytes"},
		{"zst", writeZst(t, filepath.Join(dir, "a.img.zst"), data), "gpt: partition a: sparse: copying " + filepath.Join(dir, "a.img.zst") + ": image larger than its destination: image is 1052672 bytes, destination 1048576 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, tc.name+".disk")
			err := buildDisk(csv, out, 0, "", map[string]string{"a": tc.path})
			if !errors.Is(err, sparse.ErrTooLarge) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
			if fileExists(out) {
				t.Errorf("output left behind after an error")
			}
		})
	}
	t.Run("unknown partition", func(t *testing.T) {
		err := buildDisk(csv, filepath.Join(dir, "x.disk"), 0, "", map[string]string{"nope": "a.img"})
		if err == nil || !strings.Contains(err.Error(), `image for "nope": no such partition`) {
			t.Fatalf("error = %v", err)
		}
	})
	t.Run("corrupt zst", func(t *testing.T) {
		bad := writeFile(t, filepath.Join(dir, "bad.img.zst"), []byte("not zstd at all"))
		err := buildDisk(csv, filepath.Join(dir, "y.disk"), 0, "", map[string]string{"a": bad})
		if err == nil || !strings.Contains(err.Error(), "gpt: partition a: sparse: copying "+bad+": zst: ") {
			t.Fatalf("error = %v", err)
		}
	})
}

// TestDeterministic builds the same disk in-process and in two helper
// processes with different TZ, umask and temp dirs, and compares bytes.
func TestDeterministic(t *testing.T) {
	src := t.TempDir()
	images, _ := smallDisk(t, src)
	csv, err := filepath.Abs("testdata/small.csv")
	if err != nil {
		t.Fatal(err)
	}
	var sums []string
	for i, env := range []*testutil.Env{nil, {TZ: "UTC", Umask: 0o022}, {TZ: "Pacific/Chatham", Umask: 0o077}} {
		out := filepath.Join(t.TempDir(), "disk.img")
		var b []byte
		if env == nil {
			if err := buildDisk(csv, out, 64<<20, "", images); err != nil {
				t.Fatal(err)
			}
			if b, err = os.ReadFile(out); err != nil {
				t.Fatal(err)
			}
		} else {
			b = testutil.Rerun(t, "TestDeterministicHelper", *env, out, deterministicArgs{CSV: csv, Out: out, Size: 64 << 20, Images: images})
		}
		st, _ := os.Stat(out)
		if st.Mode().Perm() != 0o644 {
			t.Errorf("run %d: mode %v, want 0644", i, st.Mode().Perm())
		}
		sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(b)))
	}
	if sums[0] != sums[1] || sums[1] != sums[2] {
		t.Fatalf("outputs differ: %v", sums)
	}
}

// deterministicArgs is the job of TestDeterministicHelper.
type deterministicArgs struct {
	CSV, Out, GUID string
	Size           int64
	Images         map[string]string
}

// TestDeterministicHelper assembles a disk in the helper processes of
// TestDeterministic; it does nothing in a normal test run.
func TestDeterministicHelper(t *testing.T) {
	var args deterministicArgs
	if !testutil.HelperArgs(t, &args) {
		return
	}
	if err := buildDisk(args.CSV, args.Out, args.Size, args.GUID, args.Images); err != nil {
		t.Fatal(err)
	}
}

func TestCopySparseWrites(t *testing.T) {
	// Every write is a run of whole non-zero blocks (or the tail), and the
	// data lands where it belongs.
	data := imageData(9, 3*sparse.CopyBufferSize+sparse.BlockSize/2)
	w := &recorder{}
	n, err := sparse.CopySparse(w, 1<<20, int64(len(data)), bytes.NewReader(data))
	if err != nil || n != int64(len(data)) {
		t.Fatalf("CopySparse = %d, %v", n, err)
	}
	got := make([]byte, len(data))
	for _, wr := range w.writes {
		if wr.off < 1<<20 || (wr.off-1<<20)%sparse.BlockSize != 0 || allZero(wr.b[:min(sparse.BlockSize, len(wr.b))]) {
			t.Fatalf("bad write at %d (%d bytes)", wr.off, len(wr.b))
		}
		copy(got[wr.off-1<<20:], wr.b)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("copied data differs")
	}
	// imageData zeroes one block in four: runs of three blocks.
	want := 0
	for g := 0; g+sparse.BlockSize < len(data); g += 4 * sparse.BlockSize {
		want++
	}
	if len(w.writes) != want {
		t.Errorf("%d writes, want %d", len(w.writes), want)
	}
}

type recorder struct {
	writes []struct {
		off int64
		b   []byte
	}
}

func (r *recorder) WriteAt(b []byte, off int64) (int, error) {
	r.writes = append(r.writes, struct {
		off int64
		b   []byte
	}{off, append([]byte(nil), b...)})
	return len(b), nil
}

// TestHugeDisk checks a disk past the 2 TiB limit of MBR sector counts:
// the protective partition's size must saturate at 0xFFFFFFFF.
func TestHugeDisk(t *testing.T) {
	sgdisk := testutil.Tool(t, "sgdisk", "gdisk")
	dir := t.TempDir()
	csv := writeFile(t, filepath.Join(dir, "p.csv"), []byte("a,,1G,L,\nb,,rest,V,\n"))
	disk := filepath.Join(dir, "disk.img")
	if err := buildDisk(csv, disk, 3<<40, "", nil); err != nil {
		t.Fatal(err)
	}
	if out := run(t, sgdisk, "-v", disk); !strings.Contains(out, "No problems found") {
		t.Fatalf("sgdisk -v:\n%s", out)
	}
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 512)
	if _, err := f.ReadAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
	if got := mbr[446+4]; got != 0xEE {
		t.Errorf("protective partition type %#x, want 0xEE", got)
	}
	if got := mbr[446+12 : 446+16]; !bytes.Equal(got, []byte{0xFF, 0xFF, 0xFF, 0xFF}) {
		t.Errorf("protective partition size % x, want ff ff ff ff", got)
	}
}
