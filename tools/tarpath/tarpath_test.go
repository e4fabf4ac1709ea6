package tarpath

import (
	"errors"
	"sort"
	"strings"
	"testing"
)

func TestClean(t *testing.T) {
	tests := []struct {
		in, want string
		bad      bool
	}{
		{in: "./", want: ""},
		{in: ".", want: ""},
		{in: "./etc/passwd", want: "etc/passwd"},
		{in: "etc/", want: "etc"},
		{in: "a//b/./c/", want: "a/b/c"},
		{in: "name with spaces/ü", want: "name with spaces/ü"},
		{in: "/etc/passwd", bad: true},
		{in: "../etc", bad: true},
		{in: "a/../../b", bad: true},
		{in: "a/..", bad: true},
		{in: "a\x00b", bad: true},
		{in: strings.Repeat("x", 256), bad: true},
		{in: strings.Repeat("x", 255), want: strings.Repeat("x", 255)},
		// MaxPathLen: 2047 levels fit, one byte more does not, whatever
		// the redundant "./" and "//" around it.
		{in: strings.Repeat("a/", 2046) + "b", want: strings.Repeat("a/", 2046) + "b"},
		{in: "./" + strings.Repeat("a//./", 2046) + "b/", want: strings.Repeat("a/", 2046) + "b"},
		{in: strings.Repeat("a/", 2046) + "bc", want: strings.Repeat("a/", 2046) + "bc"},
		{in: strings.Repeat("a/", 2047) + "b", bad: true},
		{in: strings.Repeat("a/", 40000) + "z", bad: true},
		{in: strings.Repeat(strings.Repeat("x", 255)+"/", 15) + strings.Repeat("y", 254), want: strings.Repeat(strings.Repeat("x", 255)+"/", 15) + strings.Repeat("y", 254)},
		{in: strings.Repeat(strings.Repeat("x", 255)+"/", 15) + strings.Repeat("y", 255), bad: true},
	}
	for _, tc := range tests {
		got, err := Clean(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrUnsafe) {
				t.Errorf("Clean(%s) = %s, %v; want ErrUnsafe", Quote(tc.in), Quote(got), err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Clean(%s) = %s, %v; want %s", Quote(tc.in), Quote(got), err, Quote(tc.want))
		}
	}
}

// TestCleanLongNameMessage checks that the error for an overlong path
// names the entry without quoting all of it.
func TestCleanLongNameMessage(t *testing.T) {
	name := "top/" + strings.Repeat("a/", 40000) + "z"
	_, err := Clean(name)
	if !errors.Is(err, ErrUnsafe) {
		t.Fatalf("Clean: %v, want ErrUnsafe", err)
	}
	msg := err.Error()
	for _, want := range []string{`"top/a/a/`, `a/a/z"`, "(79805 bytes)", "longer than 4094 bytes"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message %q lacks %q", msg, want)
		}
	}
	if len(msg) > 400 {
		t.Errorf("message of %d bytes", len(msg))
	}
	if got := Quote("short"); got != `"short"` {
		t.Errorf("Quote = %s", got)
	}
}

// TestCleanAllocs checks that cleaning costs at most one copy of the name:
// none when it is canonical already.
func TestCleanAllocs(t *testing.T) {
	canonical := strings.Repeat("dir/", 1000) + "file"
	redundant := "./" + strings.Replace(canonical, "/", "//", -1) + "/"
	for _, tc := range []struct {
		in     string
		allocs float64
	}{{canonical, 0}, {redundant, 2}} {
		got := testing.AllocsPerRun(10, func() {
			if c, err := Clean(tc.in); err != nil || c != canonical {
				t.Fatalf("Clean: %v", err)
			}
		})
		if got > tc.allocs {
			t.Errorf("Clean(%d bytes): %v allocations, want at most %v", len(tc.in), got, tc.allocs)
		}
	}
}

func TestLinks(t *testing.T) {
	if _, err := CleanHardlink("a", "../../etc/shadow"); !errors.Is(err, ErrUnsafe) || !strings.Contains(err.Error(), `"a"`) {
		t.Errorf("escaping hard link: %v", err)
	}
	if _, err := CleanHardlink("a", "./"); !errors.Is(err, ErrUnsafe) {
		t.Errorf("hard link to root: %v", err)
	}
	if got, err := CleanHardlink("a", "./usr/bin/x"); err != nil || got != "usr/bin/x" {
		t.Errorf("hard link: %q %v", got, err)
	}
	for _, ok := range []string{"../../../etc/b", "/usr/lib/x", "x"} {
		if err := CheckSymlink("l", ok); err != nil {
			t.Errorf("CheckSymlink(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "a\x00", strings.Repeat("a", 4096)} {
		if err := CheckSymlink("l", bad); !errors.Is(err, ErrUnsafe) {
			t.Errorf("CheckSymlink(%q) accepted", bad)
		}
	}
}

func TestLessParentsFirst(t *testing.T) {
	names := []string{"a/b", "a-b", "a", "", "a/b/c", "a.b/x", "b", "a/a"}
	sort.Slice(names, func(i, j int) bool { return Less(names[i], names[j]) })
	want := []string{"", "a", "a/a", "a/b", "a/b/c", "a-b", "a.b/x", "b"}
	if strings.Join(names, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", names, want)
	}
	if Parent("a/b/c") != "a/b" || Parent("a") != "" {
		t.Fatal("Parent")
	}
}

func TestPrefixes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"", ""},
		{"a", "a=a "},
		{"usr/lib/x.so", "usr=usr usr/lib=lib usr/lib/x.so=x.so "},
	} {
		var got strings.Builder
		for p, c := range Prefixes(tc.in) {
			got.WriteString(p + "=" + c + " ")
		}
		if got.String() != tc.want {
			t.Errorf("Prefixes(%q): %q, want %q", tc.in, got.String(), tc.want)
		}
	}
	for p := range Prefixes("a/b/c") {
		if p == "a/b" {
			break // stopping early is allowed
		}
	}
	name := strings.Repeat("dir/", 1000) + "file"
	if n := testing.AllocsPerRun(10, func() {
		for range Prefixes(name) {
		}
	}); n != 0 {
		t.Errorf("Prefixes allocates %v times", n)
	}
}
