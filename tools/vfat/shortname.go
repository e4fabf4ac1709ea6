package vfat

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Short (8.3) names and how long names map onto them. The rules follow what
// Windows NT and Linux (vfat, shortname=winnt) write:
//   - a name that is a valid 8.3 name whose base and extension are each all
//     upper case or all lower case is stored as a short name only; the
//     lower-case parts are flagged with the NT case bits;
//   - a valid 8.3 name in mixed case keeps its upper-cased short name and
//     gets a long name;
//   - any other name gets a long name and a generated short name BASE~N.EXT,
//     N being the smallest number free in the directory.

// shortChars are the characters, besides letters and digits, allowed in a
// short name (fatgen103, "FAT 32 Byte Directory Entry Structure").
const shortChars = "$%'-_@~`!(){}^#&"

// isShortChar reports whether c may appear in a short name, case aside.
func isShortChar(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' ||
		strings.IndexByte(shortChars, c) >= 0
}

// checkLongName validates a name for a VFAT long-name entry.
func checkLongName(name string) error {
	if name == "" {
		return fmt.Errorf("empty name")
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("name is not valid UTF-8")
	}
	for _, r := range name {
		if r < 0x20 || strings.ContainsRune(`"*/:<>?\|`, r) {
			return fmt.Errorf("character %q is not allowed in FAT names", r)
		}
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		return fmt.Errorf("FAT names cannot end with %q", last)
	}
	if n := len(lfnUnits(name)); n > maxLFNUnits {
		return fmt.Errorf("name is %d UTF-16 units long, FAT allows %d", n, maxLFNUnits)
	}
	return nil
}

// foldKey is the key under which names collide: FAT lookups ignore case.
func foldKey(name string) string { return strings.ToUpper(name) }

// letterCase classifies the letters of s.
type letterCase int

const (
	noLetters letterCase = iota
	allUpper
	allLower
	mixedCase
)

func caseOf(s string) letterCase {
	c := noLetters
	for i := 0; i < len(s); i++ {
		var k letterCase
		switch b := s[i]; {
		case b >= 'A' && b <= 'Z':
			k = allUpper
		case b >= 'a' && b <= 'z':
			k = allLower
		default:
			continue
		}
		if c == noLetters {
			c = k
		} else if c != k {
			return mixedCase
		}
	}
	return c
}

// packShort builds the 11-byte form of base and ext (already upper case).
func packShort(base, ext string) [11]byte {
	var n [11]byte
	for i := range n {
		n[i] = ' '
	}
	copy(n[0:8], base)
	copy(n[8:11], ext)
	return n
}

// plainShort returns the short form of name if name is a valid 8.3 name
// (any case). lfn reports whether a long name is still needed (mixed case
// within the base or the extension) and ntres holds the case flags otherwise.
func plainShort(name string) (short [11]byte, ntres uint8, lfn, ok bool) {
	base, ext := name, ""
	if i := strings.IndexByte(name, '.'); i >= 0 {
		base, ext = name[:i], name[i+1:]
		if ext == "" || strings.IndexByte(ext, '.') >= 0 {
			return short, 0, false, false
		}
	}
	if base == "" || len(base) > 8 || len(ext) > 3 {
		return short, 0, false, false
	}
	for i := 0; i < len(name); i++ {
		if name[i] != '.' && !isShortChar(name[i]) {
			return short, 0, false, false
		}
	}
	short = packShort(strings.ToUpper(base), strings.ToUpper(ext))
	bc, ec := caseOf(base), caseOf(ext)
	if bc == mixedCase || ec == mixedCase {
		return short, 0, true, true
	}
	if bc == allLower {
		ntres |= caseLowerBase
	}
	if ec == allLower {
		ntres |= caseLowerExt
	}
	return short, ntres, false, true
}

// shortStem derives the upper-case base and extension a generated short
// name starts from: spaces and leading dots are dropped, the extension is
// what follows the last dot, other dots are dropped, and characters that
// cannot appear in short names (including all non-ASCII ones) become '_'.
func shortStem(name string) (base, ext string) {
	name = strings.TrimLeft(strings.ReplaceAll(name, " ", ""), ".")
	b, e := name, ""
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		b, e = name[:i], name[i+1:]
	}
	conv := func(s string, max int) string {
		var out []byte
		for _, r := range s {
			if len(out) == max {
				break
			}
			switch {
			case r == '.':
				continue
			case r < utf8.RuneSelf && isShortChar(byte(r)):
				out = append(out, strings.ToUpper(string(r))[0])
			default:
				out = append(out, '_')
			}
		}
		return string(out)
	}
	base, ext = conv(b, 8), conv(e, 3)
	if base == "" {
		base = "_"
	}
	return base, ext
}

// tails hands out the generated short names BASE~N.EXT of one directory,
// each time the one with the smallest N not taken yet. N has 1 to 6 digits
// and BASE is cut to leave room for "~N" in 8 characters, so the candidates
// of a name for an N of k digits are those of its base cut to 7-k
// characters; names whose bases agree on those characters share them.
// Searches therefore resume where the last one with the same cut base,
// extension and k stopped: every smaller N of that kind is taken, and taken
// names stay taken. Each taken name is stepped over at most once (it has
// one cut base, extension and width), so the cost is O(1) amortized per
// name, and the result is the same as trying N = 1, 2, ... every time.
type tails struct {
	taken map[[11]byte]bool
	// next maps a cut base and extension (packed like a short name) and
	// the number of digits (last byte) to the N the next search starts at.
	next map[[12]byte]int
}

func newTails() *tails {
	return &tails{taken: map[[11]byte]bool{}, next: map[[12]byte]int{}}
}

// generate returns the first free BASE~N.EXT for name and marks it taken.
func (t *tails) generate(name string) ([11]byte, error) {
	base, ext := shortStem(name)
	var digits [6]byte
	for k, lo := 1, 1; k <= 6; k, lo = k+1, lo*10 {
		b := base[:min(len(base), 7-k)]
		cut := packShort(b, ext)
		var key [12]byte
		copy(key[:], cut[:])
		key[11] = byte(k)
		n := max(t.next[key], lo)
		for ; n < lo*10; n++ {
			s := cut
			s[len(b)] = '~'
			copy(s[len(b)+1:8], strconv.AppendInt(digits[:0], int64(n), 10))
			if !t.taken[s] {
				t.taken[s] = true
				t.next[key] = n + 1
				return s, nil
			}
		}
		t.next[key] = n
	}
	return [11]byte{}, fmt.Errorf("no free short name for %q", name)
}

// shortString renders an 11-byte short name as NAME.EXT (for messages and
// tests).
func shortString(n [11]byte) string {
	b := strings.TrimRight(string(n[0:8]), " ")
	if e := strings.TrimRight(string(n[8:11]), " "); e != "" {
		return b + "." + e
	}
	return b
}
