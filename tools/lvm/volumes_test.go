package lvm

import (
	"strings"
	"testing"
)

func TestCRC(t *testing.T) {
	// Reference values from lvm's algorithm: the seed is returned for no
	// data; "123456789" checked with zlib.crc32(data, seed^~0)^~0.
	for _, tc := range []struct {
		in   string
		want uint32
	}{{"", 0xf597a6cf}, {"123456789", 0x4991cf02}} {
		if got := crc([]byte(tc.in)); got != tc.want {
			t.Errorf("crc(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

func TestParseUUID(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm", "SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm", ""},
		{"ABCDEFghijklmnopqrstuvwxyz012345", "ABCDEF-ghij-klmn-opqr-stuv-wxyz-012345", ""},
		{"ab!#EFghijklmnopqrstuvwxyz012345", "ab!#EF-ghij-klmn-opqr-stuv-wxyz-012345", ""},
		{"SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPA", "", "grouped 6-4-4-4-4-4-6"},
		{"SIs20Rl-6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm", "", "grouped 6-4-4-4-4-4-6"},
		{"SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JP_m", "", `character '_' not allowed`},
		{"", "", "grouped"},
	}
	for _, tc := range tests {
		got, err := ParseUUID(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseUUID(%q) error = %v, want containing %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseUUID(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestParseVolumes(t *testing.T) {
	const csv = `# name,start,size,uuid[,comment]
config , 0e, 25e, SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm, Config partition

A_boot ,   , 1G,  0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x
guestos, 400M, 2097152s, woW7RT-t6jS-cRo2-uENw-iQXu-ni2u-AZdHpq
plain  ,    , 4194304, 1BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x
mib    ,    , 8MiB, 2BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x
`
	vols, err := ParseVolumes(strings.NewReader(csv), "v.csv", DefaultExtentSize)
	if err != nil {
		t.Fatal(err)
	}
	want := []Volume{
		{2, "config", 0, 25, "SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm"},
		{4, "A_boot", -1, 256, "0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x"},
		{5, "guestos", 100, 256, "woW7RT-t6jS-cRo2-uENw-iQXu-ni2u-AZdHpq"},
		{6, "plain", -1, 1, "1BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x"},
		{7, "mib", -1, 2, "2BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x"},
	}
	if len(vols) != len(want) {
		t.Fatalf("got %d volumes, want %d", len(vols), len(want))
	}
	for i := range want {
		if vols[i] != want[i] {
			t.Errorf("volume %d: %+v, want %+v", i, vols[i], want[i])
		}
	}
	const u1, u2 = "SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm", "0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x"
	errs := []struct{ name, csv, wantErr string }{
		{"fields", "a,0e,1e\n", "lvm: v.csv:1: 3 fields, want name,start,size,uuid[,comment]"},
		{"name", "-a,,1e," + u1 + "\n", `v.csv:1: LV name: "-a": not allowed`},
		{"name chars", "a b,,1e," + u1 + "\n", `character ' ' not allowed`},
		{"reserved", "x_tmeta,,1e," + u1 + "\n", `"_tmeta" is reserved`},
		{"snapshot", "snapshot1,,1e," + u1 + "\n", "reserved"},
		{"start", "a,x,1e," + u1 + "\n", "v.csv:1: a: start:"},
		{"bytes not extents", "a,,25," + u1 + "\n", "lvm: v.csv:1: a: size: 25 (25 bytes) is not a whole number of 4194304-byte extents"},
		{"unit", "a,,25Q," + u1 + "\n", `lvm: v.csv:1: a: size: size "25Q": unknown unit "Q"`},
		{"decimal unit", "a,,4MB," + u1 + "\n", `lvm: v.csv:1: a: size: size "4MB": decimal unit MB is not accepted`},
		{"extents with unit", "a,,1Ke," + u1 + "\n", `lvm: v.csv:1: a: size: "1Ke" is not a whole number of extents`},
		{"too many extents", "a,,1099511627777e," + u1 + "\n", `"1099511627777e" is not a whole number of extents up to 1099511627776`},
		{"partial extent", "a,,5M," + u1 + "\n", "v.csv:1: a: size: 5M (5242880 bytes) is not a whole number of 4194304-byte extents"},
		{"negative extents", "a,,-5e," + u1 + "\n", `lvm: v.csv:1: a: size: "-5e" is not a whole number of extents`},
		{"negative bytes", "a,-4M,1e," + u1 + "\n", `lvm: v.csv:1: a: start: size "-4M": negative (or e for extents)`},
		{"zero", "a,,0e," + u1 + "\n", "v.csv:1: a: size is zero"},
		{"uuid", "a,,1e,nope\n", "v.csv:1: a: uuid: UUID \"nope\""},
		{"dup name", "a,,1e," + u1 + "\n#\na,,1e," + u2 + "\n", "v.csv:3: a: name already used on line 1"},
		{"dup uuid", "a,,1e," + u1 + "\nb,,1e," + u1 + "\n", "v.csv:2: b: UUID " + u1 + " already used on line 1"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseVolumes(strings.NewReader(tc.csv), "v.csv", DefaultExtentSize)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestParseVolumesBOM: a UTF-8 byte order mark at the start of the file
// (as some editors save CSV) is not part of the first name.
func TestParseVolumesBOM(t *testing.T) {
	const u1 = "SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm"
	for _, csv := range []string{"\ufeffconfig,0e,1e," + u1 + "\n", "\ufeff#c\nconfig,0e,1e," + u1 + "\n"} {
		vols, err := ParseVolumes(strings.NewReader(csv), "v.csv", DefaultExtentSize)
		if err != nil || len(vols) != 1 || vols[0].Name != "config" {
			t.Errorf("%q: %+v, %v; want one volume named config", csv, vols, err)
		}
	}
}

func TestPlan(t *testing.T) {
	const vg, pv = "Y9Tqbl-20VK-Yapy-Gax6-8Lzf-DcH2-tr2Ynq", "ABCDEF-ghij-klmn-opqr-stuv-wxyz-012345"
	const u1, u2 = "SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm", "0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x"
	base := func() Config {
		return Config{Size: 41 << 20, VGName: "hostlvm", VGUUID: vg, PVUUID: pv, CreationHost: "h", PVDevice: "/dev/sda3"}
	}
	tests := []struct {
		name    string
		edit    func(*Config)
		wantErr string
		starts  []int64
	}{
		{"packed", func(c *Config) {
			c.Volumes = []Volume{{Name: "a", Start: -1, Extents: 2, UUID: u1}, {Name: "b", Start: -1, Extents: 8, UUID: u2}}
		}, "", []int64{0, 2}},
		{"gap", func(c *Config) {
			c.Volumes = []Volume{{Name: "a", Start: 3, Extents: 2, UUID: u1}, {Name: "b", Start: -1, Extents: 5, UUID: u2}}
		}, "", []int64{3, 5}},
		{"too big", func(c *Config) {
			c.Volumes = []Volume{{Line: 7, Name: "a", Start: -1, Extents: 11, UUID: u1}}
		}, "lvm: line 7: a: extents [0, 11) do not fit the 10 extents of a 42991616-byte PV", nil},
		{"overlap", func(c *Config) {
			c.Volumes = []Volume{{Name: "a", Start: 2, Extents: 2, UUID: u1}, {Line: 3, Name: "b", Start: 1, Extents: 2, UUID: u2}}
		}, "lvm: line 3: b: extents [1, 3) overlap a at [2, 4)", nil},
		{"uuid reuse", func(c *Config) { c.Volumes = []Volume{{Name: "a", Start: -1, Extents: 1, UUID: vg}} }, "UUID " + vg + " already used by the VG", nil},
		{"vg name", func(c *Config) { c.VGName = "bad/name" }, "VG name", nil},
		{"vg uuid", func(c *Config) { c.VGUUID = "x" }, "lvm: VG: UUID", nil},
		{"size", func(c *Config) { c.Size = 4 << 20 }, "PV size 4194304", nil},
		{"host", func(c *Config) { c.CreationHost = "a\nb" }, "control characters", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			l, err := Plan(c)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if l.PECount != 10 {
				t.Errorf("pe_count %d, want 10", l.PECount)
			}
			for i, v := range l.Volumes {
				if v.Start != tc.starts[i] {
					t.Errorf("volume %s starts at %d, want %d", v.Name, v.Start, tc.starts[i])
				}
			}
		})
	}
}
