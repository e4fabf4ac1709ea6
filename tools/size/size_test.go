package size

import (
	"math"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"0", 0},
		{"1048576", 1 << 20},
		{"007", 7},
		{"512B", 512},
		{"512b", 512},
		{"1s", 512},
		{"204800s", 100 << 20},
		{"1K", 1 << 10},
		{"1k", 1 << 10},
		{"4KiB", 4 << 10},
		{"100M", 100 << 20},
		{"100m", 100 << 20},
		{"100MiB", 100 << 20},
		{"100MIB", 100 << 20},
		{"100mib", 100 << 20},
		{"10G", 10 << 30},
		{"10g", 10 << 30},
		{"1GiB", 1 << 30},
		{"2T", 2 << 40},
		{"2t", 2 << 40},
		{"2TiB", 2 << 40},
		{"1792M", 1792 << 20},
		{"9223372036854775807", math.MaxInt64},
		{"8388607T", 8388607 << 40},
	} {
		got, err := Parse(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", `size "": empty`},
		{"-1M", `size "-1M": negative`},
		{"-1", `size "-1": negative`},
		{"+1M", `size "+1M": a sign is not allowed`},
		{"1.5G", `size "1.5G": fractions are not allowed`},
		{"1,5G", `size "1,5G": fractions are not allowed`},
		{".5G", `size ".5G": want a whole number`},
		{"1 M", `size "1 M": contains a blank`},
		{" 1M", `size " 1M": contains a blank`},
		{"1M\n", `size "1M\n": contains a blank`},
		{"1X", `size "1X": unknown unit "X"`},
		{"1P", `size "1P": unknown unit "P"`},
		{"1S", `size "1S": unknown unit "S"`},
		{"1Mi", `size "1Mi": unknown unit "Mi"`},
		{"1MiBs", `size "1MiBs": unknown unit "MiBs"`},
		{"1e", `size "1e": unknown unit "e"`},
		{"M", `size "M": want a whole number`},
		{"1MB", `size "1MB": decimal unit MB is not accepted; write M or MiB`},
		{"1kb", `size "1kb": decimal unit kb is not accepted; write K or KiB`},
		{"1GB", `size "1GB": decimal unit GB is not accepted; write G or GiB`},
		{"1TB", `size "1TB": decimal unit TB is not accepted; write T or TiB`},
		{"0x10", `size "0x10": unknown unit "x10"`},
		{"9223372036854775808", `size "9223372036854775808": more than 9223372036854775807 bytes`},
		{"99999999999999999999999", `more than`},
		{"8388608T", `size "8388608T": more than 9223372036854775807 bytes`},
		{"18014398509481984s", `more than`},
	} {
		_, err := Parse(tc.in)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) error %v, want it to contain %q", tc.in, err, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{512, "512"},
		{1 << 10, "1K"},
		{1536, "1536"},
		{1536 << 10, "1536K"},
		{100 << 20, "100M"},
		{1 << 30, "1G"},
		{3 << 40, "3T"},
		{math.MaxInt64, "9223372036854775807"},
	} {
		if got := Format(tc.in); got != tc.want {
			t.Errorf("Format(%d) = %q, want %q", tc.in, got, tc.want)
		}
		if back, err := Parse(Format(tc.in)); err != nil || back != tc.in {
			t.Errorf("Parse(Format(%d)) = %d, %v", tc.in, back, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"0", "1048576", "100M", "1GiB", "2048s", "1MB", "-1", "1.5G", "1 M", "8388608T", "512B"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := Parse(s)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "size ") {
				t.Fatalf("Parse(%q) error %q lacks the size prefix", s, err)
			}
			return
		}
		if n < 0 {
			t.Fatalf("Parse(%q) = %d, negative", s, n)
		}
		back, err := Parse(Format(n))
		if err != nil || back != n {
			t.Fatalf("Parse(Format(%d)) = %d, %v (input %q)", n, back, err, s)
		}
	})
}
