package base

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

var versionTests = []struct {
	a, b string
	want int
}{
	{"1.0", "1.0", 0},
	{"1.0", "1.0-0", 0},
	{"0:1.0", "1.0", 0},
	{"1.0", "1.1", -1},
	{"1.10", "1.9", 1},
	{"1.002", "1.2", 0},
	{"1:0.1", "2.0", 1},
	{"1.0~rc1", "1.0", -1},
	{"1.0~~", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"1.0", "1.0+b1", -1},
	{"1.0a", "1.0+", -1},
	{"1.0", "1.0a", -1},
	{"1.0-1", "1.0-2", -1},
	{"1.0-1", "1.0-1.1", -1},
	{"1.0-1~bpo1", "1.0-1", -1},
	{"2.06-13+deb12u1", "2.06-13", 1},
	{"1+2.06+13+deb12u2", "1+2.06+13+deb12u1", 1},
	{"1.51~1+deb12u1+16.1-2~deb12u1", "1.51~1+deb12u1+15.8-1~deb12u1", 1},
	{"6.1.192-3", "6.1.176-1", 1},
	{"2025b-0+deb12u2", "2025b-0+deb12u1", 1},
	{"1.2-3-4", "1.2-3", 1},
	{"99999999999999999999", "99999999999999999998", 1},
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range versionTests {
		if got := CompareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
		if got := CompareVersions(tc.b, tc.a); got != -tc.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.b, tc.a, got, -tc.want)
		}
	}
}

// TestCompareVersionsDpkg checks the table against dpkg itself.
func TestCompareVersionsDpkg(t *testing.T) {
	dpkg := testutil.Tool(t, "dpkg", "dpkg")
	for _, tc := range versionTests {
		op := map[int]string{-1: "lt", 0: "eq", 1: "gt"}[tc.want]
		if err := exec.Command(dpkg, "--compare-versions", tc.a, op, tc.b).Run(); err != nil {
			t.Errorf("dpkg --compare-versions %s %s %s: %v", tc.a, op, tc.b, err)
		}
	}
}

func TestArchiveIndexNewest(t *testing.T) {
	const index = `Package: shim-signed
Version: 1.51~1+deb12u1+16.1-2~deb12u1
Architecture: amd64
Filename: pool/main/s/shim-signed/new.deb
SHA256: 2222222222222222222222222222222222222222222222222222222222222222

Package: shim-signed
Version: 1.51~1+deb12u1+15.8-1~deb12u1
Architecture: amd64
Filename: pool/main/s/shim-signed/old.deb
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: shim-signed
Version: 1.52
Architecture: arm64
Filename: pool/main/s/shim-signed/arm.deb
SHA256: 3333333333333333333333333333333333333333333333333333333333333333

Package: tzdata
Version: 2025b-0+deb12u2
Architecture: all
Filename: pool/main/t/tzdata/tzdata.deb
SHA256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
`
	entries, err := parseIndex(strings.NewReader(index))
	if err != nil {
		t.Fatal(err)
	}
	idx := newArchiveIndex(entries)
	tests := []struct {
		name    string
		archs   []string
		want    string // "version filename", "" for none
		wantSum byte
	}{
		{"shim-signed", []string{"amd64", "all"}, "1.51~1+deb12u1+16.1-2~deb12u1 pool/main/s/shim-signed/new.deb", '2'},
		{"shim-signed", []string{"arm64"}, "1.52 pool/main/s/shim-signed/arm.deb", '3'},
		{"tzdata", []string{"amd64", "all"}, "2025b-0+deb12u2 pool/main/t/tzdata/tzdata.deb", 'a'},
		{"tzdata", []string{"amd64"}, "", 0},
		{"gone", []string{"amd64", "all"}, "", 0},
	}
	for _, tc := range tests {
		got, ok := idx.Newest(tc.name, tc.archs...)
		switch {
		case tc.want == "" && ok:
			t.Errorf("Newest(%s, %v) = %+v, want none", tc.name, tc.archs, got)
		case tc.want != "" && (!ok || got.Version+" "+got.Filename != tc.want || got.SHA256[0] != tc.wantSum || got.Name != tc.name):
			t.Errorf("Newest(%s, %v) = %+v, %v; want %s", tc.name, tc.archs, got, ok, tc.want)
		}
	}
	if v := idx.versions["shim-signed"]; len(v) != 3 || v[0] != "1.51~1+deb12u1+15.8-1~deb12u1" || v[2] != "1.52" {
		t.Errorf("versions not in Debian order: %v", v)
	}
}
