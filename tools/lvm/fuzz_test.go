package lvm

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// volumesSeeds are copies of the committed ic-os/hostos/volumes.csv (cut to
// a few rows) and of the forms the package documentation shows.
var volumesSeeds = []string{
	`# Logical volumes of the HostOS volume group hostlvm (icos lvm), 4 MiB
# extents. Row: name,start,size,uuid[,comment]; start empty = packed.
config , , 100M, kK4cdK-Ue2W-mMyV-9k3m-0mGW-8hAy-t2xZ0n, /boot/config
A_boot , , 1G  , 1rPo8V-tQq5-4kyG-Kqd6-Bq1X-7bn0-Rv3Dd1, /boot of system A
A_root , , 10G , 3cUe4B-kPz2-bB1s-aK1Y-zQ4a-0Tcu-Gh5Lr2, / of system A
guestos, , 50G , 4mQw2E-rT3y-Ui4o-Pa5s-Df6g-Hj7k-Lz8Xx7, the GuestOS disk
`,
	"config, 0e, 25e, SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm, Config partition\nA_boot,   , 1G,  0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x\n",
	"\ufeffguestos, 400M, 2097152s, woW7RTt6jScRo2uENwiQXuni2uAZdHpq\r\n",
}

// formatVolumes writes volumes back as volumes.csv, in extents, after a
// comment line (so no row is the file's first line).
func formatVolumes(vols []Volume) string {
	var b strings.Builder
	b.WriteString("# name,start,size,uuid\n")
	for _, v := range vols {
		start := ""
		if v.Start >= 0 {
			start = fmt.Sprintf("%de", v.Start)
		}
		fmt.Fprintf(&b, "%s,%s,%de,%s\n", v.Name, start, v.Extents, v.UUID)
	}
	return b.String()
}

// FuzzParseVolumes: ParseVolumes never panics and its errors name the
// file; volumes it accepts format back to a file that parses to the same
// volumes; Plan either rejects them or places them inside the PV without
// overlaps.
func FuzzParseVolumes(f *testing.F) {
	for _, s := range volumesSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		vols, err := ParseVolumes(bytes.NewReader(data), "f.csv", DefaultExtentSize)
		if err != nil {
			if vols != nil || !strings.HasPrefix(err.Error(), "lvm: f.csv") {
				t.Fatalf("error %q does not name the file, or volumes came with it", err)
			}
			return
		}
		text := formatVolumes(vols)
		again, err := ParseVolumes(strings.NewReader(text), "g.csv", DefaultExtentSize)
		if err != nil {
			t.Fatalf("formatted volumes do not parse: %v\n%s", err, text)
		}
		if len(again) != len(vols) {
			t.Fatalf("round trip: %d volumes, want %d", len(again), len(vols))
		}
		for i, v := range again {
			want := vols[i]
			v.Line, want.Line = 0, 0
			if v != want {
				t.Fatalf("round trip: volume %d = %+v, want %+v", i, v, want)
			}
		}
		l, err := Plan(Config{Size: 100 << 30, VGName: "hostlvm", VGUUID: "Y9Tqbl-20VK-Yapy-Gax6-8Lzf-DcH2-tr2Ynq",
			PVUUID: "ABCDEF-ghij-klmn-opqr-stuv-wxyz-012345", CreationHost: "h", PVDevice: "/dev/sda3", Volumes: vols})
		if err != nil {
			return
		}
		for i, v := range l.Volumes {
			if v.Start < 0 || v.Extents <= 0 || v.Start+v.Extents > l.PECount {
				t.Fatalf("volume %+v is not inside the %d extents of the PV", v, l.PECount)
			}
			for _, o := range l.Volumes[:i] {
				if v.Start < o.Start+o.Extents && o.Start < v.Start+v.Extents {
					t.Fatalf("volumes %s and %s overlap", v.Name, o.Name)
				}
			}
		}
	})
}
