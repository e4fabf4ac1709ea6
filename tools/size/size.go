// Package size parses and formats the byte sizes given to icos: on the
// command line (--size, --cluster-size) and in partitions.csv and
// volumes.csv. Every tool uses this one grammar.
//
// A size is a whole decimal number followed by an optional unit:
//
//	1048576          bytes (no unit)
//	1048576B         bytes
//	2048s            512-byte sectors
//	1K  1k  1KiB     1024 bytes
//	1M  1m  1MiB     1024² bytes
//	1G  1g  1GiB     1024³ bytes
//	1T  1t  1TiB     1024⁴ bytes
//
// The "iB" of the binary units may be written in any case ("1MIB").
// Decimal units (KB, MB, GB, TB in any case) are rejected rather than
// read: taking "1MB" as 1000000 bytes would surprise whoever meant the
// binary unit, and taking it as 1048576 would surprise whoever meant the
// decimal one; the error suggests M or MiB.
//
// Also rejected, with an error naming the input: the empty string, a sign
// ("-1M", "+1M"), fractions ("1.5G"), blanks anywhere (callers whose
// format trims fields, such as the CSV tables, trim before calling Parse),
// unknown units, and values that do not fit an int64. Zero is a valid size;
// minimums, maximums and alignment are the caller's rules.
package size

import (
	"fmt"
	"math"
	"strings"
	"unicode"
)

// Sector is the size of the "s" unit.
const Sector = 512

// units maps a unit letter (either case) to its multiplier.
var units = map[byte]int64{
	'k': 1 << 10,
	'm': 1 << 20,
	'g': 1 << 30,
	't': 1 << 40,
}

// Parse returns the number of bytes s denotes (see the package
// documentation for the grammar).
func Parse(s string) (int64, error) {
	n, err := parse(s)
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	return n, nil
}

func parse(s string) (int64, error) {
	if s == "" {
		return 0, fmt.Errorf("empty")
	}
	if strings.ContainsFunc(s, unicode.IsSpace) {
		return 0, fmt.Errorf("contains a blank (write e.g. 100M)")
	}
	switch s[0] {
	case '-':
		return 0, fmt.Errorf("negative")
	case '+':
		return 0, fmt.Errorf("a sign is not allowed (write e.g. 100M)")
	}
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	digits, unit := s[:i], s[i:]
	if digits == "" {
		return 0, fmt.Errorf("want a whole number of bytes with an optional unit (B, s, K, M, G, T, KiB, MiB, GiB, TiB)")
	}
	if unit != "" && (unit[0] == '.' || unit[0] == ',') {
		return 0, fmt.Errorf("fractions are not allowed; use a smaller unit (e.g. 1536M for 1.5G)")
	}
	mult, err := multiplier(unit)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, c := range []byte(digits) {
		d := int64(c - '0')
		if n > (math.MaxInt64-d)/10 {
			return 0, fmt.Errorf("more than %d bytes", int64(math.MaxInt64))
		}
		n = n*10 + d
	}
	if n > math.MaxInt64/mult {
		return 0, fmt.Errorf("more than %d bytes", int64(math.MaxInt64))
	}
	return n * mult, nil
}

// multiplier returns the bytes per unit of a unit suffix.
func multiplier(unit string) (int64, error) {
	switch unit {
	case "", "B", "b":
		return 1, nil
	case "s":
		return Sector, nil
	}
	if mult, ok := units[lower(unit[0])]; ok {
		switch rest := unit[1:]; {
		case rest == "" || strings.EqualFold(rest, "iB"):
			return mult, nil
		case rest == "B" || rest == "b":
			u := strings.ToUpper(unit[:1])
			return 0, fmt.Errorf("decimal unit %s is not accepted; write %s or %siB for powers of 1024", unit, u, u)
		}
	}
	return 0, fmt.Errorf("unknown unit %q (want B, s, K, M, G, T, KiB, MiB, GiB or TiB)", unit)
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// Format writes n in the largest binary unit (T, G, M, K) that divides it
// exactly, or as plain bytes: Format(104857600) is "100M". Parse(Format(n))
// is n for every n >= 0.
func Format(n int64) string {
	if n > 0 {
		for _, u := range []struct {
			suffix string
			mult   int64
		}{{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
			if n%u.mult == 0 {
				return fmt.Sprintf("%d%s", n/u.mult, u.suffix)
			}
		}
	}
	return fmt.Sprintf("%d", n)
}
