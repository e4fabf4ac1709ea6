package zst

import (
	"bytes"
	"crypto/sha256"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// testInput is 3 MiB of mixed data: compressible text, random bytes
// and zero runs, so several zstd blocks of different kinds are produced.
func testInput(t testing.TB) []byte {
	t.Helper()
	rng := rand.New(rand.NewSource(1))
	var b bytes.Buffer
	for b.Len() < 3<<20 {
		switch rng.Intn(3) {
		case 0:
			for i := 0; i < 2000; i++ {
				b.WriteString("the quick brown fox jumps over the lazy dog ")
			}
		case 1:
			r := make([]byte, 64<<10)
			rng.Read(r)
			b.Write(r)
		case 2:
			b.Write(make([]byte, 100<<10))
		}
	}
	return b.Bytes()
}

func compress(t testing.TB, in []byte, opts Options, chunk int) ([]byte, [32]byte) {
	t.Helper()
	var out bytes.Buffer
	w, err := NewWriter(&out, opts)
	if err != nil {
		t.Fatal(err)
	}
	for p := in; len(p) > 0; {
		n := min(chunk, len(p))
		if _, err := w.Write(p[:n]); err != nil {
			t.Fatal(err)
		}
		p = p[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(out.Len()) {
		t.Fatalf("Size() = %d, wrote %d", w.Size(), out.Len())
	}
	return out.Bytes(), w.Sum()
}

// TestSameOutputAnyConcurrency checks the output is a function of the input
// and level only: concurrency and write sizes do not change a byte.
func TestSameOutputAnyConcurrency(t *testing.T) {
	in := testInput(t)
	for _, level := range []int{1, 3, 7, 19} {
		ref, refSum := compress(t, in, Options{Level: level, Concurrency: 1}, 1<<20)
		if refSum != sha256.Sum256(ref) {
			t.Fatalf("level %d: Sum does not match the output", level)
		}
		for _, tc := range []struct{ conc, chunk int }{{2, 1 << 20}, {4, 1 << 20}, {4, 4093}, {1, 1 << 22}, {0, 77777}} {
			got, _ := compress(t, in, Options{Level: level, Concurrency: tc.conc}, tc.chunk)
			if !bytes.Equal(got, ref) {
				t.Errorf("level %d concurrency %d chunk %d: output differs from concurrency 1", level, tc.conc, tc.chunk)
			}
		}
	}
}

// TestZstdCLIAccepts checks `zstd -t` accepts the output and `zstd -dc`
// restores the input.
func TestZstdCLIAccepts(t *testing.T) {
	zstdBin := testutil.Tool(t, "zstd", "zstd")
	in := testInput(t)
	out, _ := compress(t, in, Options{Concurrency: 2}, 1<<16)
	p := filepath.Join(t.TempDir(), "x.zst")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(zstdBin, "-t", p).CombinedOutput(); err != nil {
		t.Fatalf("zstd -t: %v\n%s", err, b)
	}
	dec, err := exec.Command(zstdBin, "-dc", p).Output()
	if err != nil {
		t.Fatalf("zstd -dc: %v", err)
	}
	if !bytes.Equal(dec, in) {
		t.Fatal("zstd -dc output differs from the input")
	}
}

func TestEmptyInputIsValidFrame(t *testing.T) {
	zstdBin := testutil.Tool(t, "zstd", "zstd")
	out, _ := compress(t, nil, Options{}, 1)
	if len(out) == 0 {
		t.Fatal("empty input gave no frame")
	}
	p := filepath.Join(t.TempDir(), "e.zst")
	if err := os.WriteFile(p, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command(zstdBin, "-t", p).CombinedOutput(); err != nil {
		t.Fatalf("zstd -t: %v\n%s", err, b)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{{Level: -1}, {Level: 23}, {Concurrency: -1}} {
		if _, err := NewWriter(&bytes.Buffer{}, o); err == nil {
			t.Errorf("NewWriter(%+v) succeeded", o)
		}
	}
}

func TestSHA256Line(t *testing.T) {
	sum := sha256.Sum256([]byte("abc"))
	got := SHA256Line(sum, "disk-img.tar.zst")
	want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad  disk-img.tar.zst\n"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

// TestCopySameAsWrite: data fed with io.Copy (which would use a ReadFrom
// method) must give the same output as plain writes.
func TestCopySameAsWrite(t *testing.T) {
	in := testInput(t)
	ref, _ := compress(t, in, Options{Concurrency: 2}, 1<<20)
	var out bytes.Buffer
	w, err := NewWriter(&out, Options{Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(in[:1000]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(w, io.MultiReader(bytes.NewReader(in[1000:]))); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), ref) {
		t.Fatal("io.Copy gave different output than Write")
	}
}
