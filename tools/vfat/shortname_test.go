package vfat

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

func TestPlainShort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		short string // "" when the name is not a valid 8.3 name
		ntres uint8
		lfn   bool
	}{
		{"README.TXT", "README  TXT", 0, false},
		{"readme.txt", "README  TXT", caseLowerBase | caseLowerExt, false},
		{"readme.TXT", "README  TXT", caseLowerBase, false},
		{"README.txt", "README  TXT", caseLowerExt, false},
		{"ReadMe.txt", "README  TXT", 0, true},
		{"readme.Txt", "README  TXT", 0, true},
		{"x", "X          ", caseLowerBase, false},
		{"EFI", "EFI        ", 0, false},
		{"12345678.123", "12345678123", 0, false},
		{"A~1", "A~1        ", 0, false},
		{"grubenv", "GRUBENV    ", caseLowerBase, false},
		{"123456789", "", 0, false},
		{"a.html", "", 0, false},
		{"a.b.c", "", 0, false},
		{".bashrc", "", 0, false},
		{"a b", "", 0, false},
		{"a+b", "", 0, false},
		{"ä", "", 0, false},
	} {
		s, ntres, lfn, ok := plainShort(tc.name)
		if tc.short == "" {
			if ok {
				t.Errorf("%q: valid 8.3 %q, want not", tc.name, s)
			}
			continue
		}
		if !ok || string(s[:]) != tc.short || ntres != tc.ntres || lfn != tc.lfn {
			t.Errorf("%q: got %q ntres %#x lfn %v ok %v, want %q %#x %v", tc.name, s, ntres, lfn, ok, tc.short, tc.ntres, tc.lfn)
		}
	}
}

func TestNumericTail(t *testing.T) {
	tl := newTails()
	get := func(name string) string {
		s, err := tl.generate(name)
		if err != nil {
			t.Fatal(err)
		}
		return shortString(s)
	}
	for _, tc := range []struct{ name, want string }{
		{"a very long name.html", "AVERYL~1.HTM"},
		{"a very long name.htm", "AVERYL~2.HTM"},
		{".bashrc", "BASHRC~1"},
		{"ünïcode.txt", "_N_COD~1.TXT"},
		{"a+b=c.tar.gz", "A_B_CT~1.GZ"},
		{"日本語", "___~1"},
		{"x.y.z.longext", "XYZ~1.LON"},
	} {
		if got := get(tc.name); got != tc.want {
			t.Errorf("%q: got %s, want %s", tc.name, got, tc.want)
		}
	}
	// Many names with one 6-character prefix: the tail grows and the base
	// shrinks, and no short name repeats.
	seen := map[string]bool{}
	for i := 0; i < 1200; i++ {
		s := get("collision prefix " + strings.Repeat("x", i%7) + ".dat")
		if seen[s] {
			t.Fatalf("short name %s given twice", s)
		}
		seen[s] = true
		switch i {
		case 0:
			if s != "COLLIS~1.DAT" {
				t.Errorf("first: %s", s)
			}
		case 9:
			if s != "COLLI~10.DAT" {
				t.Errorf("tenth: %s", s)
			}
		case 99:
			if s != "COLL~100.DAT" {
				t.Errorf("100th: %s", s)
			}
		case 999:
			if s != "COL~1000.DAT" {
				t.Errorf("1000th: %s", s)
			}
		}
	}
}

// naiveTail is the reference for tails.generate: it tries N = 1, 2, ...
// and returns the first BASE~N.EXT not taken.
func naiveTail(name string, taken map[[11]byte]bool) [11]byte {
	base, ext := shortStem(name)
	for n := 1; n <= 999999; n++ {
		tail := "~" + strconv.Itoa(n)
		s := packShort(base[:min(len(base), 8-len(tail))]+tail, ext)
		if !taken[s] {
			return s
		}
	}
	panic("no free short name")
}

// TestTailsMatchNaive checks that resuming searches gives the names a
// search from N = 1 gives, with names whose cut bases share candidates
// (bases of 4 to 8 characters with one prefix), taken 8.3 names in the
// way, and more than 9 and 99 names per prefix.
func TestTailsMatchNaive(t *testing.T) {
	tl := newTails()
	taken := map[[11]byte]bool{}
	for _, plain := range []string{"ABCDEF~1.TXT", "ABCDE~12.TXT", "ABCD~150.TXT", "ABCDEF~3", "ABC~1000.TXT"} {
		s, _, _, ok := plainShort(plain)
		if !ok {
			t.Fatalf("%s is not 8.3", plain)
		}
		tl.taken[s], taken[s] = true, true
	}
	x := uint32(1)
	for i := 0; i < 3000; i++ {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		name := "abcdefgh"[:4+x%5] + strings.Repeat("z", int(x>>3%3)) + " long" + []string{".txt", ".text", "", ".t"}[x>>5%4]
		got, err := tl.generate(name)
		if err != nil {
			t.Fatal(err)
		}
		want := naiveTail(name, taken)
		if got != want {
			t.Fatalf("name %d %q: got %s, want %s", i, name, shortString(got), shortString(want))
		}
		taken[want] = true
	}
}

// TestManyLongNamesAllocs gives short names to 30,000 long names of one
// directory (3,000 with -short): the search for a free BASE~N must not
// start over at N = 1 for every name (that took minutes).
func TestManyLongNamesAllocs(t *testing.T) {
	n := 30000
	if testing.Short() {
		n = 3000
	}
	d := &node{dir: true}
	for i := 0; i < n; i++ {
		d.children = append(d.children, &node{name: fmt.Sprintf("long file name %06d.txt", i), parent: d})
	}
	allocs := testing.AllocsPerRun(1, func() {
		if err := assignShortNames(d); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%d names: %.0f allocations", n, allocs)
	if perName := allocs / float64(n); perName > 20 {
		t.Errorf("%d names: %.0f allocations, %.1f per name, want at most 20", n, allocs, perName)
	}
	seen := map[[11]byte]bool{}
	for _, c := range d.children {
		if seen[c.short] {
			t.Fatalf("short name %s given twice", shortString(c.short))
		}
		seen[c.short] = true
	}
	if got, want := shortString(d.children[n-1].short), fmt.Sprintf("%s~%d.TXT", "LONGFILE"[:7-len(strconv.Itoa(n))], n); got != want {
		t.Errorf("last name: %s, want %s", got, want)
	}
}

func TestCheckLongName(t *testing.T) {
	for _, tc := range []struct {
		name string
		bad  string // substring of the error, "" when valid
	}{
		{"ok name.txt", ""},
		{"ünïcode 日本", ""},
		{strings.Repeat("a", 255), ""},
		{strings.Repeat("日", 255), ""},
		{strings.Repeat("a", 256), "UTF-16"},
		{strings.Repeat("😀", 128), "UTF-16"}, // 256 units: surrogate pairs
		{"a:b", "not allowed"},
		{"a*b", "not allowed"},
		{"a\\b", "not allowed"},
		{"a\x01b", "not allowed"},
		{"trailing.", "cannot end"},
		{"trailing ", "cannot end"},
		{"bad\xffutf8", "UTF-8"},
	} {
		err := checkLongName(tc.name)
		if tc.bad == "" && err != nil || tc.bad != "" && (err == nil || !strings.Contains(err.Error(), tc.bad)) {
			t.Errorf("checkLongName(%q) = %v, want %q", tc.name, err, tc.bad)
		}
	}
}

func TestEncodeTime(t *testing.T) {
	for _, tc := range []struct {
		unix       int64
		date, time uint16
		tenths     uint8
	}{
		{0, 0<<9 | 1<<5 | 1, 0, 0},                                 // clamped to 1980-01-01
		{-5, 0<<9 | 1<<5 | 1, 0, 0},                                // clamped
		{315532800, 0<<9 | 1<<5 | 1, 0, 0},                         // 1980-01-01 00:00:00
		{1700000001, 43<<9 | 11<<5 | 14, 22<<11 | 13<<5 | 10, 100}, // 2023-11-14 22:13:21
		{1 << 40, 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29, 0},     // clamped to 2107-12-31 23:59:58
	} {
		got := encodeTime(tc.unix)
		if got.date != tc.date || got.time != tc.time || got.tenths != tc.tenths {
			t.Errorf("encodeTime(%d) = %+v, want date %#x time %#x tenths %d", tc.unix, got, tc.date, tc.time, tc.tenths)
		}
	}
}

// TestChecksumMatchesMtools lets mtools write long names and checks that the
// checksum stored in its long-name slots is the one we compute.
func TestChecksumMatchesMtools(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "m.img")
	mtool(t, "mformat", "-C", "-i", img, "-T", "2880", "-h", "2", "-s", "18", "::")
	src := filepath.Join(dir, "src")
	os.WriteFile(src, []byte("x"), 0o644)
	names := []string{"a very long file name.html", "Mixed Case Name", "ünïcode file.txt", "x.y.z"}
	for _, n := range names {
		mtool(t, "mcopy", "-i", img, src, "::/"+n)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	// 1.44 MB floppy: 1 reserved, 2 FATs of 9 sectors, root at sector 19.
	root := b[19*512 : 19*512+224*32]
	found := 0
	var sums []byte
	var units []uint16
	for i := 0; i+32 <= len(root) && root[i] != 0; i += 32 {
		e := root[i : i+32]
		if e[11] == attrLFN {
			sums = append(sums, e[13])
			var part []uint16
			for _, o := range []int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30} {
				part = append(part, uint16(e[o])|uint16(e[o+1])<<8)
			}
			units = append(part, units...)
			continue
		}
		var short [11]byte
		copy(short[:], e[0:11])
		for _, s := range sums {
			if s != checksum(short) {
				t.Errorf("%q: mtools stored checksum %#x, we compute %#x", short, s, checksum(short))
			}
		}
		if len(sums) > 0 {
			found++
			// Our encoding of the long name must equal mtools'.
			for j, u := range units {
				if u == 0 {
					units = units[:j]
					break
				}
			}
			name := string(utf16.Decode(units))
			enc := make([]byte, lfnSlots(len(units))*32)
			marshalLFN(enc, lfnUnits(name), checksum(short))
			if string(enc) != string(root[i-len(enc):i]) {
				t.Errorf("%q: our long-name slots differ from mtools'", name)
			}
		}
		sums, units = nil, nil
	}
	if found != len(names) {
		t.Fatalf("found %d long names in the mtools image, want %d", found, len(names))
	}
}
