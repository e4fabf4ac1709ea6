package base

import (
	"strings"
	"testing"
)

func TestArchiveIndexExpired(t *testing.T) {
	const index = `Package: linux-image-amd64
Version: 6.1.176-1
Architecture: amd64
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: linux-image-amd64
Version: 6.1.192-3
Architecture: amd64
SHA256: 3333333333333333333333333333333333333333333333333333333333333333

Package: tzdata
Version: 2025b-0+deb12u2
Architecture: all
SHA256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
`
	sums, err := parseIndex(strings.NewReader(index))
	if err != nil {
		t.Fatal(err)
	}
	idx := newArchiveIndex(sums)
	const a, b = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	tests := []struct {
		name string
		pkg  Package
		want string // "" when served
	}{
		{"served", Package{"tzdata", "2025b-0+deb12u2", "all", a}, ""},
		{"superseded", Package{"linux-image-amd64", "6.1.192-2", "amd64", b},
			"linux-image-amd64 6.1.192-2 (the archive has 6.1.176-1, 6.1.192-3)"},
		{"other checksum", Package{"tzdata", "2025b-0+deb12u2", "all", b},
			"tzdata 2025b-0+deb12u2 (the archive has 2025b-0+deb12u2)"},
		{"other architecture", Package{"tzdata", "2025b-0+deb12u2", "amd64", a},
			"tzdata 2025b-0+deb12u2 (the archive has 2025b-0+deb12u2)"},
		{"removed", Package{"gone", "1.0", "amd64", a}, "gone 1.0 (the archive has no version of it)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := idx.Expired([]Package{tc.pkg})
			switch {
			case tc.want == "" && len(got) != 0:
				t.Fatalf("Expired = %v, want none", got)
			case tc.want != "" && (len(got) != 1 || got[0].String() != tc.want):
				t.Fatalf("Expired = %v, want [%s]", got, tc.want)
			}
		})
	}
}
