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
	}
	for _, tc := range tests {
		got, err := Clean(tc.in)
		if tc.bad {
			if !errors.Is(err, ErrUnsafe) {
				t.Errorf("Clean(%q) = %q, %v; want ErrUnsafe", tc.in, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Clean(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
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
