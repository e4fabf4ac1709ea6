package pack

import (
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/internal/testutil"
)

const mib = 1 << 20

// makeImage creates a sparse file of size bytes with random data at the
// given offsets (length each) and returns its path.
func makeImage(t testing.TB, path string, size, length int64, offsets ...int64) string {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewSource(size + int64(len(offsets))))
	for _, off := range offsets {
		b := make([]byte, length)
		rng.Read(b)
		if _, err := f.WriteAt(b, off); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

func inputs(t *testing.T) (dir string, files []string) {
	dir = t.TempDir()
	files = []string{
		// 1 MiB of data, ends in a hole
		makeImage(t, filepath.Join(dir, "disk.img"), 64*mib, mib/2, 0, 20*mib),
		// starts with a hole
		makeImage(t, filepath.Join(dir, "data.img"), 64*mib, mib/2, 40*mib, 64*mib-mib/2),
		// no holes
		makeImage(t, filepath.Join(dir, "small.bin"), 10000, 10000, 0),
	}
	return dir, files
}

// TestExtractWithGNUTools checks the outputs with zstd -t, sha256sum -c and
// GNU tar --zstd: files compare equal and holes stay holes.
func TestExtractWithGNUTools(t *testing.T) {
	tarBin := testutil.Tool(t, "tar", "tar")
	zstdBin := testutil.Tool(t, "zstd", "zstd")
	shaBin := testutil.Tool(t, "sha256sum", "coreutils")
	cmpBin := testutil.Tool(t, "cmp", "diffutils")
	_, files := inputs(t)
	outDir := t.TempDir()
	out := filepath.Join(outDir, "disk-img.tar.zst")
	if err := Pack(out, files, Options{Concurrency: 2}); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(zstdBin, "-t", out).CombinedOutput(); err != nil {
		t.Fatalf("zstd -t: %v\n%s", err, b)
	}
	cmd := exec.Command(shaBin, "-c", "disk-img.tar.zst.sha256")
	cmd.Dir = outDir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sha256sum -c: %v\n%s", err, b)
	}
	x := t.TempDir()
	if b, err := exec.Command(tarBin, "--zstd", "-xf", out, "-C", x).CombinedOutput(); err != nil {
		t.Fatalf("tar --zstd -x: %v\n%s", err, b)
	}
	list, err := exec.Command(tarBin, "--zstd", "-tvf", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(list), "-rw-r--r-- 0/0") || !strings.Contains(string(list), " 1970-01-01 ") && !strings.Contains(string(list), " 1969-12-31 ") {
		t.Errorf("unexpected listing:\n%s", list)
	}
	for _, f := range files {
		got := filepath.Join(x, filepath.Base(f))
		if b, err := exec.Command(cmpBin, f, got).CombinedOutput(); err != nil {
			t.Fatalf("cmp: %v\n%s", err, b)
		}
		var st syscall.Stat_t
		if err := syscall.Stat(got, &st); err != nil {
			t.Fatal(err)
		}
		if alloc := st.Blocks * 512; alloc > mib+256<<10 {
			t.Errorf("%s: %d bytes allocated, want about 1 MiB", got, alloc)
		}
	}
}

// TestDeterministic packs the same inputs in two processes with different
// TZ, umask, TMPDIR and output directories, and once more listing the files
// in another order: all outputs must be byte-identical.
func TestDeterministic(t *testing.T) {
	_, files := inputs(t)
	run := func(env testutil.Env, order []string) (data, sum []byte) {
		out := filepath.Join(t.TempDir(), "disk-img.tar.zst")
		data = testutil.Rerun(t, "TestDeterministicHelper", env, out, deterministicArgs{Out: out, In: order})
		sum, _ = os.ReadFile(out + SumSuffix)
		st, _ := os.Stat(out)
		if st.Mode().Perm() != 0o644 {
			t.Errorf("umask %03o: output mode %v", env.Umask, st.Mode())
		}
		return data, sum
	}
	d1, s1 := run(testutil.Env{TZ: "UTC", Umask: 0o022}, files)
	d2, s2 := run(testutil.Env{TZ: "Pacific/Kiritimati", Umask: 0o077}, []string{files[2], files[0], files[1]})
	if len(d1) == 0 || !bytes.Equal(d1, d2) || !bytes.Equal(s1, s2) {
		t.Fatalf("outputs differ: %d vs %d bytes, sums %q vs %q", len(d1), len(d2), s1, s2)
	}
}

// deterministicArgs is the job of TestDeterministicHelper.
type deterministicArgs struct {
	Out string
	In  []string
}

// TestDeterministicHelper packs in the helper processes of
// TestDeterministic; it does nothing in a normal test run.
func TestDeterministicHelper(t *testing.T) {
	var args deterministicArgs
	if !testutil.HelperArgs(t, &args) {
		return
	}
	if err := Pack(args.Out, args.In, Options{ModTime: time.Unix(1234567890, 0)}); err != nil {
		t.Fatal(err)
	}
}

func TestNameInTar(t *testing.T) {
	tarBin := testutil.Tool(t, "tar", "tar")
	dir := t.TempDir()
	in := makeImage(t, filepath.Join(dir, "raw"), 1*mib, 4096, 8192)
	out := filepath.Join(dir, "o.tar.zst")
	if err := Pack(out, []string{in}, Options{NameInTar: "disk.img"}); err != nil {
		t.Fatal(err)
	}
	list, err := exec.Command(tarBin, "--zstd", "-tf", out).Output()
	if err != nil {
		t.Fatal(err)
	}
	if string(list) != "disk.img\n" {
		t.Fatalf("listing %q", list)
	}
}

// TestErrorsLeaveNoOutput checks bad invocations fail with a useful error
// and leave neither the archive nor its checksum (nor temp files) behind.
func TestErrorsLeaveNoOutput(t *testing.T) {
	dir := t.TempDir()
	a := makeImage(t, filepath.Join(dir, "a.img"), mib, 4096, 0)
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	b := makeImage(t, filepath.Join(sub, "a.img"), mib, 4096, 0)
	for _, tc := range []struct {
		name  string
		files []string
		opts  Options
		want  string
	}{
		{"missing", []string{a, filepath.Join(dir, "nope")}, Options{}, "nope"},
		{"directory", []string{sub}, Options{}, "not a regular file"},
		{"duplicate", []string{a, b}, Options{}, `both be stored as "a.img"`},
		{"name with two files", []string{a, filepath.Join(dir, "x")}, Options{NameInTar: "d"}, "exactly one"},
		{"bad name", []string{a}, Options{NameInTar: "../d"}, ".."},
		{"nested name", []string{a}, Options{NameInTar: "x/d"}, "single file name"},
		{"bad level", []string{a}, Options{Level: 99}, "level"},
		{"no files", nil, Options{}, "no input"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outDir := t.TempDir()
			err := Pack(filepath.Join(outDir, "out.tar.zst"), tc.files, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one mentioning %q", err, tc.want)
			}
			if ents, _ := os.ReadDir(outDir); len(ents) != 0 {
				t.Fatalf("left behind: %v", ents)
			}
		})
	}
}

// BenchmarkPack packs a 256 MiB image holding 16 MiB of random data in
// 64 extents (throughput counts the image size).
func BenchmarkPack(b *testing.B) {
	dir := b.TempDir()
	var offs []int64
	for i := int64(0); i < 64; i++ {
		offs = append(offs, i*4*mib)
	}
	img := makeImage(b, filepath.Join(dir, "disk.img"), 256*mib, mib/4, offs...)
	b.SetBytes(256 * mib)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Pack(filepath.Join(dir, "disk-img.tar.zst"), []string{img}, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
