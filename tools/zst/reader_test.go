package zst

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
	"github.com/klauspost/compress/zstd"
)

// handmade is a frame laid out by hand (RFC 8878): a 7-byte header with a
// 2-byte content size and no checksum, then a raw block at offset 7, an
// empty raw block at 16, an RLE block at 19 and a last raw block at 23; it
// ends at 29.
var handmade = []byte{
	0x28, 0xB5, 0x2F, 0xFD, // magic
	0x60,       // single segment, 2-byte content size, no checksum
	0x35, 0x00, // content size 309 (stored minus 256)
	0x30, 0x00, 0x00, 'h', 'e', 'l', 'l', 'o', ' ', // raw, 6 bytes
	0x00, 0x00, 0x00, // raw, empty
	0x62, 0x09, 0x00, 'x', // RLE, 300 bytes
	0x19, 0x00, 0x00, 'e', 'n', 'd', // raw, 3 bytes, last
}

var handmadeOut = []byte("hello " + strings.Repeat("x", 300) + "end")

// skippable returns a skippable frame holding content.
func skippable(content string) []byte {
	n := len(content)
	return append([]byte{0x5A, 0x2A, 0x4D, 0x18, byte(n), byte(n >> 8), 0, 0}, content...)
}

// cutStream is a zstd stream, the offsets where it may end (the ends of
// its frames) and its decompressed content.
type cutStream struct {
	name string
	data []byte
	ends []int
	out  []byte
}

// cutStreams returns small streams of every kind the Reader meets: our
// Writer's (several blocks, content checksum, no content size), a
// single-shot encoding (content size and checksum), the hand-made frame
// (content size, no checksum) and several concatenated frames with
// skippable frames between them.
func cutStreams(t *testing.T) []cutStream {
	t.Helper()
	var in bytes.Buffer
	for i := 0; in.Len() < 3*128<<10+100; i++ {
		fmt.Fprintf(&in, "line %d of a test input spread over several blocks\n", i*i%97)
	}
	w, _ := compress(t, in.Bytes(), Options{Level: 1, Concurrency: 1}, 4096)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderCRC(true))
	if err != nil {
		t.Fatal(err)
	}
	all := enc.EncodeAll([]byte("hello, hello, hello, world"), nil)
	enc.Close()
	streams := []cutStream{
		{"writer", w, []int{len(w)}, in.Bytes()},
		{"encodeall", all, []int{len(all)}, []byte("hello, hello, hello, world")},
		{"handmade", handmade, []int{len(handmade)}, handmadeOut},
	}
	multi := cutStream{name: "multi"}
	for _, part := range [][]byte{skippable("ab"), handmade, skippable(""), all, handmade, skippable("xyz")} {
		multi.data = append(multi.data, part...)
		multi.ends = append(multi.ends, len(multi.data))
	}
	multi.out = append(append(append([]byte{}, handmadeOut...), "hello, hello, hello, world"...), handmadeOut...)
	streams = append(streams, multi)
	return streams
}

func readAll(b []byte) ([]byte, error) {
	r, err := NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// zstdVerdicts runs `zstd -t` once on every input and reports which it
// accepts.
func zstdVerdicts(t *testing.T, inputs [][]byte) []bool {
	t.Helper()
	bin := testutil.Tool(t, "zstd", "zstd")
	dir := t.TempDir()
	args := []string{"-t", "-q", "--no-progress"}
	for i, b := range inputs {
		name := filepath.Join(dir, fmt.Sprintf("in%06d.zst", i))
		if err := os.WriteFile(name, b, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, name)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stderr = &stderr
	_ = cmd.Run() // the exit status only says whether all passed
	ok := make([]bool, len(inputs))
	for i := range inputs {
		ok[i] = !strings.Contains(stderr.String(), fmt.Sprintf("in%06d.zst", i))
	}
	return ok
}

// TestReaderCuts cuts each stream at every offset: only a cut at the end
// of a frame is a valid stream (decompressing to the content so far), and
// any other cut is ErrTruncated at the offset of the cut, as `zstd -t`
// judges it too.
func TestReaderCuts(t *testing.T) {
	var inputs [][]byte
	var verdicts []bool
	var where []string
	for _, s := range cutStreams(t) {
		if len(s.data) > 4096 {
			t.Fatalf("%s: %d bytes: keep the test streams small", s.name, len(s.data))
		}
		for cut := 0; cut <= len(s.data); cut++ {
			valid := false
			for _, e := range s.ends {
				valid = valid || cut == e
			}
			got, err := readAll(s.data[:cut])
			switch {
			case valid && err != nil:
				t.Errorf("%s cut at %d (a frame end): %v", s.name, cut, err)
			case valid && (s.name != "multi" || cut == len(s.data)) && !bytes.Equal(got, s.out):
				t.Errorf("%s cut at %d: wrong content (%d bytes, want %d)", s.name, cut, len(got), len(s.out))
			case !valid && !errors.Is(err, ErrTruncated):
				t.Errorf("%s cut at %d of %d: err = %v, want ErrTruncated", s.name, cut, len(s.data), err)
			case !valid && !strings.HasPrefix(err.Error(), fmt.Sprintf("zst: offset %d: ", cut)):
				t.Errorf("%s cut at %d: error %q does not name offset %d", s.name, cut, err, cut)
			}
			inputs = append(inputs, s.data[:cut])
			verdicts = append(verdicts, valid)
			where = append(where, fmt.Sprintf("%s cut at %d", s.name, cut))
		}
	}
	for i, ok := range zstdVerdicts(t, inputs) {
		if ok != verdicts[i] {
			t.Errorf("%s: zstd -t accepts: %v, Reader: %v", where[i], ok, verdicts[i])
		}
	}
}

// TestReaderBad checks streams that are complete but wrong, and odd valid
// ones, against `zstd -t`.
func TestReaderBad(t *testing.T) {
	w, _ := compress(t, bytes.Repeat([]byte("checksummed "), 1000), Options{Level: 1, Concurrency: 1}, 4096)
	flip := func(b []byte, i int, mask byte) []byte {
		b = append([]byte{}, b...)
		if i < 0 {
			i += len(b)
		}
		b[i] ^= mask
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	n := len(handmade)
	tests := []struct {
		name string
		in   []byte
		want error // nil: valid
		off  int   // offset named by the error
	}{
		{"empty", nil, ErrTruncated, 0},
		{"only skippable frames", cat(skippable("ab"), skippable("")), nil, 0},
		{"trailing byte", cat(handmade, []byte("x")), ErrTruncated, n + 1},
		{"trailing zeros", cat(handmade, make([]byte, 8)), ErrCorrupt, n},
		{"trailing text", cat(handmade, []byte("garbage after the frame")), ErrCorrupt, n},
		{"trailing magic", cat(handmade, handmade[:4]), ErrTruncated, n + 4},
		{"trailing frame header", cat(handmade, handmade[:7]), ErrTruncated, n + 7},
		{"trailing cut skippable frame", cat(handmade, skippable("abc")[:9]), ErrTruncated, n + 9},
		{"reserved block type", cat(handmade[:7], []byte{0x36}, handmade[8:]), ErrCorrupt, 7},
		{"checksum mismatch", flip(w, -1, 0x01), zstd.ErrCRCMismatch, len(w) - 4},
		{"content size 308, content 309 bytes", flip(handmade, 5, 0x01), zstd.ErrFrameSizeExceeded, 23},
		{"content size 311, content 309 bytes", flip(handmade, 5, 0x02), zstd.ErrFrameSizeMismatch, 23},
	}
	var inputs [][]byte
	for _, tc := range tests {
		inputs = append(inputs, tc.in)
		_, err := readAll(tc.in)
		switch {
		case tc.want == nil && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != nil && !errors.Is(err, tc.want):
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		case tc.want != nil && !strings.HasPrefix(err.Error(), fmt.Sprintf("zst: offset %d: ", tc.off)):
			t.Errorf("%s: error %q does not name offset %d", tc.name, err, tc.off)
		}
	}
	for i, ok := range zstdVerdicts(t, inputs) {
		if ok != (tests[i].want == nil) {
			t.Errorf("%s: zstd -t accepts: %v, want %v", tests[i].name, ok, tests[i].want == nil)
		}
	}
}

// BenchmarkReader decompresses 3 MiB of mixed data with a bare decoder and
// with a Reader, which adds the frame checks and a buffer.
func BenchmarkReader(b *testing.B) {
	in := testInput(b)
	z, _ := compress(b, in, Options{Concurrency: 1}, 1<<20)
	b.Run("decoder", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for i := 0; i < b.N; i++ {
			d, err := zstd.NewReader(bytes.NewReader(z), zstd.WithDecoderConcurrency(1))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, d); err != nil {
				b.Fatal(err)
			}
			d.Close()
		}
	})
	b.Run("Reader", func(b *testing.B) {
		b.SetBytes(int64(len(in)))
		for i := 0; i < b.N; i++ {
			r, err := NewReader(bytes.NewReader(z))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.Copy(io.Discard, r); err != nil {
				b.Fatal(err)
			}
			r.Close()
		}
	})
}
