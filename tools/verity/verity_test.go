package verity

import (
	"bytes"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

var (
	testSalt    = mustHex("5eed0123456789abcdef00112233445566778899aabbccddeeff0011223344ff")
	testUUIDStr = "0b5d4f26-3c1a-4e8b-9f07-6d2e1a3c5b7d"
	testUUID    = [16]byte{0x0b, 0x5d, 0x4f, 0x26, 0x3c, 0x1a, 0x4e, 0x8b, 0x9f, 0x07, 0x6d, 0x2e, 0x1a, 0x3c, 0x5b, 0x7d}
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// blockKind is what a data block of a test image holds.
type blockKind int

const (
	random  blockKind = iota // pseudo-random bytes
	zeros                    // written zeros (allocated)
	hole                     // never written
	pattern                  // a few non-zero bytes in a zero block
)

// makeImage writes a test image of n blocks at path: kinds[i % len(kinds)]
// says what block i holds. Holes are left by extending the file.
func makeImage(t testing.TB, path string, n int64, kinds []blockKind, seed uint64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rng := rand.New(rand.NewPCG(seed, 7))
	blk := make([]byte, BlockSize)
	for i := range n {
		clear(blk)
		switch kinds[i%int64(len(kinds))] {
		case hole:
			continue
		case random:
			for j := 0; j < BlockSize; j += 8 {
				v := rng.Uint64()
				for k := range 8 {
					blk[j+k] = byte(v >> (8 * k))
				}
			}
		case pattern:
			blk[rng.IntN(BlockSize)] = byte(1 + rng.IntN(255))
		}
		if _, err := f.WriteAt(blk, i*BlockSize); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Truncate(n * BlockSize); err != nil {
		t.Fatal(err)
	}
}

// veritysetup runs veritysetup with args and returns its output; it fails
// the test on error unless wantFail, in which case it fails the test on
// success.
func veritysetup(t testing.TB, wantFail bool, args ...string) string {
	t.Helper()
	cmd := exec.Command(testutil.Tool(t, "veritysetup", "cryptsetup-bin"), args...)
	out, err := cmd.CombinedOutput()
	if wantFail {
		if err == nil {
			t.Fatalf("veritysetup %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
		}
	} else if err != nil {
		t.Fatalf("veritysetup %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// rootHashOf returns the root hash printed by veritysetup format.
func rootHashOf(t testing.TB, out string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "Root hash" {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("no root hash in veritysetup output:\n%s", out)
	return ""
}

func TestMatchesVeritysetup(t *testing.T) {
	mixed := []blockKind{random, random, zeros, hole, pattern, hole, hole, random}
	tests := []struct {
		name     string
		blocks   int64
		kinds    []blockKind
		noSB     bool
		combined bool  // data and hash area in one file
		gap      int64 // blocks between the data and the hash area (combined)
	}{
		{"1 block", 1, []blockKind{random}, false, false, 0},
		{"1 block no superblock", 1, []blockKind{random}, true, false, 0},
		{"1 zero block combined", 1, []blockKind{hole}, false, true, 0},
		{"127 blocks", 127, mixed, false, false, 0},
		{"128 blocks", 128, mixed, false, false, 0},
		{"129 blocks", 129, mixed, false, false, 0},
		{"129 blocks no superblock", 129, mixed, true, false, 0},
		{"129 blocks combined", 129, mixed, false, true, 0},
		{"129 blocks combined gap no superblock", 129, mixed, true, true, 3},
		{"all holes", 300, []blockKind{hole}, false, false, 0},
		{"4 MiB", 1024, mixed, false, false, 0},
		{"4 MiB combined gap", 1024, mixed, false, true, 1000},
		{"16385 blocks (3 levels)", 128*128 + 1, []blockKind{random, hole, hole, hole, hole, hole, hole, hole, hole, hole, pattern}, false, true, 7},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			data := filepath.Join(dir, "data.img")
			makeImage(t, data, tc.blocks, tc.kinds, uint64(i))
			size := tc.blocks * BlockSize
			opts := Options{Salt: testSalt, UUID: testUUID, NoSuperblock: tc.noSB}
			hashSize, err := HashSize(size, tc.noSB)
			if err != nil {
				t.Fatal(err)
			}
			ours, theirs := filepath.Join(dir, "ours"), filepath.Join(dir, "theirs")
			args := []string{"--salt", hex.EncodeToString(testSalt)}
			if tc.noSB {
				args = append(args, "--no-superblock")
			} else {
				args = append(args, "--uuid", testUUIDStr)
			}
			var root string
			in, err := os.Open(data)
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			out, err := os.Create(ours)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			var theirData, ourData string
			if tc.combined {
				off := size + tc.gap*BlockSize
				if err := out.Truncate(off + hashSize); err != nil {
					t.Fatal(err)
				}
				if root, err = WriteWithData(out, in, size, off, opts); err != nil {
					t.Fatal(err)
				}
				// veritysetup formats in place: a copy of the data,
				// long enough for the hash area.
				b, err := os.ReadFile(data)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(theirs, append(b, make([]byte, off+hashSize-size)...), 0o644); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--hash-offset", strconv.FormatInt(off, 10), "--data-blocks", strconv.FormatInt(tc.blocks, 10))
				theirData, ourData = theirs, ours
			} else {
				if root, err = Write(out, 0, in, size, opts); err != nil {
					t.Fatal(err)
				}
				theirData, ourData = data, data
			}
			want := rootHashOf(t, veritysetup(t, false, append([]string{"format", theirData, theirs}, args...)...))
			if root != want {
				t.Errorf("root hash %s, veritysetup %s", root, want)
			}
			got, err := os.ReadFile(ours)
			if err != nil {
				t.Fatal(err)
			}
			if tc.combined {
				if int64(len(got)) != size+tc.gap*BlockSize+hashSize {
					t.Errorf("combined output is %d bytes, want %d", len(got), size+tc.gap*BlockSize+hashSize)
				}
			} else if int64(len(got)) != hashSize {
				t.Errorf("hash area is %d bytes, HashSize says %d", len(got), hashSize)
			}
			if exp, err := os.ReadFile(theirs); err != nil {
				t.Fatal(err)
			} else if !bytes.Equal(got, exp) {
				t.Errorf("output differs from veritysetup's (%d vs %d bytes) at byte %d", len(got), len(exp), firstDiff(got, exp))
			}
			veritysetup(t, false, append([]string{"verify", ourData, ours, root}, args...)...)

			// A flipped data byte must fail verification.
			flip := filepath.Join(dir, "flipped")
			b, err := os.ReadFile(ourData)
			if err != nil {
				t.Fatal(err)
			}
			b[size/2+17] ^= 0x40
			if err := os.WriteFile(flip, b, 0o644); err != nil {
				t.Fatal(err)
			}
			hashDev := ours
			if tc.combined {
				hashDev = flip
			}
			veritysetup(t, true, append([]string{"verify", flip, hashDev, root}, args...)...)
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestReaderAt checks that a reader that is not a file (no hole skipping)
// gives the same output as the file.
func TestReaderAt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.img")
	makeImage(t, path, 700, []blockKind{random, hole, hole, zeros, pattern}, 3)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	opts := Options{Salt: []byte{1}, UUID: testUUID}
	var fromFile, fromMem memWriter
	r1, err := WriteWithData(&fromFile, f, int64(len(b)), int64(len(b)), opts)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := WriteWithData(&fromMem, bytes.NewReader(b), int64(len(b)), int64(len(b)), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r1 != r2 || !bytes.Equal(fromFile, fromMem) {
		t.Errorf("file and bytes.Reader differ: root %s vs %s", r1, r2)
	}
	if !bytes.Equal(fromFile[:len(b)], b) {
		t.Errorf("data copy differs from the data")
	}
}

// TestConcurrency checks that the output does not depend on how many
// goroutines hash the data.
func TestConcurrency(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data.img")
	makeImage(t, path, 1000, []blockKind{random, random, zeros, pattern, random, hole}, 5)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var outs []memWriter
	var roots []string
	for _, procs := range []int{1, 2, 3, maxHashers + 1} {
		runtime.GOMAXPROCS(procs)
		var w memWriter
		root, err := Write(&w, 0, bytes.NewReader(b), int64(len(b)), Options{Salt: testSalt, UUID: testUUID})
		if err != nil {
			t.Fatal(err)
		}
		outs, roots = append(outs, w), append(roots, root)
	}
	for i := 1; i < len(outs); i++ {
		if roots[i] != roots[0] || !bytes.Equal(outs[i], outs[0]) {
			t.Errorf("run %d differs from run 0: root %s vs %s", i, roots[i], roots[0])
		}
	}
}

// memWriter is an in-memory io.WriterAt that grows as written.
type memWriter []byte

func (m *memWriter) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(*m) {
		*m = append(*m, make([]byte, end-len(*m))...)
	}
	return copy((*m)[off:], p), nil
}

func TestBadInput(t *testing.T) {
	good := Options{Salt: []byte{1, 2}, UUID: testUUID}
	tests := []struct {
		name    string
		size    int64
		off     int64 // hash offset; -1: separate hash area (Write at 0)
		opts    Options
		wantErr string
	}{
		{"empty data", 0, -1, good, "verity: empty data (size 0)"},
		{"partial block", 4097, -1, good, "verity: data size 4097 is not a multiple of the block size 4096"},
		{"empty salt", 4096, -1, Options{UUID: testUUID}, "verity: empty salt"},
		{"long salt", 4096, -1, Options{Salt: make([]byte, 257)}, "verity: salt of 257 bytes, longer than 256"},
		{"offset inside data", 8192, 4096, good, "verity: hash offset 4096 is inside the data (8192 bytes)"},
		{"unaligned offset", 8192, 8704, good, "verity: hash offset 8704 is not a multiple of the block size 4096"},
		{"short data", 8192 + 4096, 8192 + 4096, good, "verity: read data at offset 0: unexpected EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := bytes.NewReader(make([]byte, 8192))
			var w memWriter
			var err error
			if tc.off < 0 {
				_, err = Write(&w, 0, data, tc.size, tc.opts)
			} else {
				_, err = WriteWithData(&w, data, tc.size, tc.off, tc.opts)
			}
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestHashSize(t *testing.T) {
	tests := []struct {
		blocks int64
		noSB   bool
		want   int64 // blocks
	}{
		{1, true, 0},
		{1, false, 1},
		{2, false, 2},
		{128, false, 2},
		{129, false, 4},                    // 2 level-0 blocks + 1 + superblock
		{128 * 128, true, 129},             // 128 + 1
		{128*128 + 1, true, 132},           // 129 + 2 + 1
		{786432, false, 1 + 6144 + 48 + 1}, // 3 GiB
	}
	for _, tc := range tests {
		got, err := HashSize(tc.blocks*BlockSize, tc.noSB)
		if err != nil || got != tc.want*BlockSize {
			t.Errorf("HashSize(%d blocks, noSB %v) = %d, %v; want %d blocks", tc.blocks, tc.noSB, got, err, tc.want)
		}
	}
}

// TestHelperWrite is run as a subprocess by TestDeterministic: it writes the
// combined layout of In to Out; it does nothing in a normal test run.
func TestHelperWrite(t *testing.T) {
	var args struct{ In, Out string }
	if !testutil.HelperArgs(t, &args) {
		return // not a helper run
	}
	in, err := os.Open(args.In)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.Create(args.Out)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	root, err := WriteWithData(out, in, st.Size(), st.Size()+BlockSize, Options{Salt: testSalt, UUID: testUUID})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.WriteString(out, root); err != nil { // appended: compared too
		t.Fatal(err)
	}
}

func TestDeterministic(t *testing.T) {
	in := filepath.Join(t.TempDir(), "data.img")
	makeImage(t, in, 500, []blockKind{random, hole, zeros, pattern}, 11)
	var outs [][]byte
	for _, env := range []testutil.Env{{TZ: "UTC", Umask: 0o022}, {TZ: "Pacific/Chatham", Umask: 0o077}} {
		out := filepath.Join(t.TempDir(), "out.img")
		outs = append(outs, testutil.Rerun(t, "TestHelperWrite", env, out, map[string]string{"In": in, "Out": out}))
	}
	if !bytes.Equal(outs[0], outs[1]) {
		t.Errorf("two runs differ at byte %d", firstDiff(outs[0], outs[1]))
	}
}

// discard is an io.WriterAt that drops everything.
type discard struct{}

func (discard) WriteAt(p []byte, off int64) (int, error) { return len(p), nil }

// BenchmarkHash hashes 64 MiB of random (non-zero) data into a hash area
// that is thrown away.
func BenchmarkHash(b *testing.B) {
	const size = 64 << 20
	data := make([]byte, size)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < size; i += 8 {
		v := rng.Uint64()
		for k := range 8 {
			data[i+k] = byte(v >> (8 * k))
		}
	}
	r := bytes.NewReader(data)
	b.SetBytes(size)
	b.ResetTimer()
	for range b.N {
		if _, err := Write(discard{}, 0, r, size, Options{Salt: testSalt, UUID: testUUID}); err != nil {
			b.Fatal(err)
		}
	}
}
