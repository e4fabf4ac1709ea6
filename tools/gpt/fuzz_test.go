package gpt

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
)

// partitionsSeeds are copies of the committed partitions.csv files
// (ic-os/guestos, ic-os/hostos, ic-os/setupos), cut to a few rows.
var partitionsSeeds = []string{
	`# GuestOS disk layout (icos disk). Row: name,start,size,type,uuid[,comment]
esp   , , 100M, U, , EFI system partition
grub  , , 100M, L, , grub.cfg and grubenv
config, , 100M, L, , /boot/config
A_boot, , 1G  , L, , /boot of system A
A_root, , 10G , L, , / of system A
`,
	`# HostOS disk layout (icos disk).
esp    , , 100M, U, , EFI system partition
grub   , , 100M, L, , grub.cfg and grubenv
hostlvm, , 93G , V, , LVM PV of the volume group hostlvm
`,
	`esp   , , 100M , U, , EFI system partition
config, , 50M  , M, , FAT32 CONFIG: config.ini, ssh_authorized_keys/
data  , , 2560M, L, , HostOS and GuestOS disk-img.tar.zst
`,
	"\ufeffesp,1M,100M,U,\r\ngrub,,1M,L,\r\n",
	"a,4194304T,4194304T,L,\n",
}

// formatRows writes rows back as partitions.csv, sizes in bytes and types
// as GUIDs, after a comment line (so no row is the file's first line).
func formatRows(rows []Row) string {
	var b strings.Builder
	b.WriteString("# name,start,size,type,uuid\n")
	for _, r := range rows {
		start, size := "", "rest"
		if r.Start >= 0 {
			start = fmt.Sprintf("%dB", r.Start)
		}
		if r.Size >= 0 {
			size = fmt.Sprintf("%dB", r.Size)
		}
		fmt.Fprintf(&b, "%s,%s,%s,%s,%s\n", r.Name, start, size, r.Type, r.GUID)
	}
	return b.String()
}

// FuzzParse: Parse never panics and its errors name the file; a table it
// accepts formats back to one that parses to the same rows; Layout of an
// accepted table either fails or places every partition inside the disk,
// in MiB units, without overlaps.
func FuzzParse(f *testing.F) {
	for _, s := range partitionsSeeds {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile("testdata/small.csv"); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		spec, err := Parse(bytes.NewReader(data), "f.csv")
		if err != nil {
			if spec != nil || !strings.HasPrefix(err.Error(), "gpt: f.csv") {
				t.Fatalf("error %q does not name the file, or a spec came with it", err)
			}
			return
		}
		text := formatRows(spec.Rows)
		again, err := Parse(strings.NewReader(text), "g.csv")
		if err != nil {
			t.Fatalf("formatted table does not parse: %v\n%s", err, text)
		}
		if len(again.Rows) != len(spec.Rows) {
			t.Fatalf("round trip: %d rows, want %d", len(again.Rows), len(spec.Rows))
		}
		for i, r := range again.Rows {
			want := spec.Rows[i]
			r.Line, want.Line = 0, 0
			if r != want {
				t.Fatalf("round trip: row %d = %+v, want %+v", i, r, want)
			}
		}
		for _, size := range []int64{0, 64 << 20, 1 << 40} {
			table, err := Layout(spec, size, "")
			if err != nil {
				continue
			}
			last := table.DiskSize - backupSectors*SectorSize
			for _, p := range table.Partitions {
				if p.Start < MiB || p.Start%MiB != 0 || p.Size <= 0 || p.Size%MiB != 0 || p.End() > last || p.End() < p.Start {
					t.Fatalf("disk of %d bytes: partition %+v is not a MiB-aligned range inside the disk of %d bytes", size, p, table.DiskSize)
				}
				for _, q := range table.Partitions {
					if p.Index != q.Index && p.Start < q.End() && q.Start < p.End() {
						t.Fatalf("disk of %d bytes: %s and %s overlap", size, p.Name, q.Name)
					}
				}
			}
		}
	})
}
