package gpt

import (
	"strings"
	"testing"
)

// TestParseSizes: starts and sizes follow package size; the 1 MiB
// alignment is gpt's own rule.
func TestParseSizes(t *testing.T) {
	for _, tc := range []struct {
		field string
		want  int64
	}{
		{"2048s", 1 << 20},
		{"1048576", 1 << 20},
		{"1048576B", 1 << 20},
		{"1MiB", 1 << 20},
		{"1024K", 1 << 20},
		{"100M", 100 << 20},
		{"1G", 1 << 30},
		{"50g", 50 << 30},
		{"3T", 3 << 40},
	} {
		spec, err := Parse(strings.NewReader("a,"+tc.field+","+tc.field+",L,\n"), "t.csv")
		if err != nil {
			t.Errorf("%s: %v", tc.field, err)
			continue
		}
		if r := spec.Rows[0]; r.Start != tc.want || r.Size != tc.want {
			t.Errorf("%s: start %d size %d, want %d", tc.field, r.Start, r.Size, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	const ok = "esp,1M,100M,U,B78084E2-3363-1346-8C25-D426F26B8928\n"
	tests := []struct {
		name, csv, wantErr string
	}{
		{"fields", "esp,1M,100M,U\n", "gpt: t.csv:1: 4 fields, want name,start,size,type,uuid[,comment]"},
		{"empty name", ",1M,100M,U,\n", "t.csv:1: empty partition name"},
		{"long name", strings.Repeat("n", 37) + ",1M,1M,L,\n", "37 UTF-16 code units"},
		{"start sectors without unit", "# c\nesp,2048,100M,U,\n", "gpt: t.csv:2: esp: start 2048 (2048 bytes) is not a non-zero multiple of 1 MiB"},
		{"start unit", "esp,1Q,100M,U,\n", `gpt: t.csv:1: esp: start: size "1Q": unknown unit "Q"`},
		{"start negative", "esp,-1M,100M,U,\n", `gpt: t.csv:1: esp: start: size "-1M": negative`},
		{"size decimal", "esp,1M,100MB,U,\n", `gpt: t.csv:1: esp: size "100MB": decimal unit MB is not accepted`},
		{"size fraction", "esp,1M,1.5G,U,\n", `gpt: t.csv:1: esp: size "1.5G": fractions are not allowed`},
		{"size blank", "esp,1M,1 M,U,\n", `gpt: t.csv:1: esp: size "1 M": contains a blank`},
		{"start align", "esp,1000s,100M,U,\n", "t.csv:1: esp: start 1000s (512000 bytes) is not a non-zero multiple of 1 MiB"},
		{"start zero", "esp,0M,100M,U,\n", "esp: start 0M"},
		{"size align", "esp,1M,1000K,U,\n", "t.csv:1: esp: size 1000K (1024000 bytes) is not a non-zero multiple of 1 MiB"},
		{"size zero", "esp,1M,0M,U,\n", "esp: size 0M"},
		{"type", "esp,1M,1M,Q,\n", "t.csv:1: esp: unknown type \"Q\""},
		{"type guid", "esp,1M,1M,0FC63DAF-8483-4772-8E79-3D69D8477DEZ,\n", "esp: type: GUID"},
		{"bad guid", "esp,1M,1M,U,not-a-guid\n", "t.csv:1: esp: uuid: GUID \"not-a-guid\" is not of the form"},
		{"bad guid hex", "esp,1M,1M,U,B78084E2-3363-1346-8C25-D426F26B892G\n", "esp: uuid: GUID"},
		{"nil guid", "esp,1M,1M,U,00000000-0000-0000-0000-000000000000\n", "nil GUID"},
		{"dup name", ok + "\nesp,,1M,L,\n", "t.csv:3: esp: name already used on line 1"},
		{"dup guid", ok + "grub,,1M,L,b78084e2-3363-1346-8c25-d426f26b8928\n", "t.csv:2: grub: GUID B78084E2-3363-1346-8C25-D426F26B8928 already used on line 1"},
		{"rest not last", "a,,rest,L,\nb,,1M,L,\n", "t.csv:1: a: size \"rest\" is only allowed on the last row"},
		{"empty", "# nothing\n\n", "gpt: t.csv: no partitions"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tc.csv), "t.csv")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestParseBOM: a UTF-8 byte order mark at the start of the file (as some
// editors save CSV) is not part of the first name.
func TestParseBOM(t *testing.T) {
	for _, csv := range []string{
		"\ufeffesp,1M,100M,U,\ngrub,,1M,L,\n",
		"\ufeff# name,start,size,type,uuid\nesp,1M,100M,U,\ngrub,,1M,L,\n",
	} {
		spec, err := Parse(strings.NewReader(csv), "t.csv")
		if err != nil {
			t.Fatalf("%q: %v", csv, err)
		}
		if len(spec.Rows) != 2 || spec.Rows[0].Name != "esp" || spec.Rows[1].Name != "grub" {
			t.Errorf("%q: rows %+v, want esp and grub", csv, spec.Rows)
		}
	}
}

func TestLayout(t *testing.T) {
	tests := []struct {
		name     string
		csv      string
		size     int64
		guid     string
		want     [][2]int64 // start, size in MiB
		wantSize int64
		wantErr  string
	}{
		{name: "packed", csv: "a,,1M,U,\nb,,2M,L,\nc,8M,1M,L,\nd,,1M,L,\n", want: [][2]int64{{1, 1}, {2, 2}, {8, 1}, {9, 1}}, wantSize: 11 << 20},
		{name: "rest", csv: "a,,1M,U,\nb,,rest,L,\n", size: 10 << 20, want: [][2]int64{{1, 1}, {2, 7}}, wantSize: 10 << 20},
		{name: "rest odd size", csv: "a,,rest,L,\n", size: 10<<20 + 512*40, want: [][2]int64{{1, 9}}, wantSize: 10<<20 + 512*40},
		{name: "exact fit", csv: "a,,1M,L,\n", size: 2<<20 + 33*512, want: [][2]int64{{1, 1}}, wantSize: 2<<20 + 33*512},
		{name: "backup gpt", csv: "a,,1M,L,\n", size: 2 << 20, wantErr: "t.csv:1: a: ends at byte 2097152, past the last usable byte 2080256"},
		{name: "end past int64", csv: "a,4194304T,4194304T,L,\n", wantErr: "t.csv:1: a: ends at byte 9223372036854775808, past the last usable byte 4611686018427387904"},
		{name: "too big", csv: "a,,1M,L,\nb,,100M,L,\n", size: 50 << 20, wantErr: "t.csv:2: b: ends at byte"},
		{name: "overlap", csv: "a,,4M,L,\nb,2M,1M,L,\n", wantErr: "t.csv:2: b: [2097152, 3145728) overlaps a (line 1)"},
		{name: "same start", csv: "a,1M,1M,L,\nb,1M,1M,L,\n", wantErr: "t.csv:2: b: [1048576, 2097152) overlaps a (line 1)"},
		{name: "overlap earlier row", csv: "a,4M,1M,L,\nb,2M,4M,L,\n", wantErr: "t.csv:1: a: [4194304, 5242880) overlaps b (line 2)"},
		{name: "rest without size", csv: "a,,rest,L,\n", wantErr: "needs a disk size"},
		{name: "no room", csv: "a,,8M,L,\nb,,rest,L,\n", size: 9<<20 + 40*512, wantErr: "t.csv:2: b: no room left"},
		{name: "odd disk", csv: "a,,1M,L,\n", size: 1000, wantErr: "disk size 1000 is not a multiple of 512"},
		{name: "bad disk guid", csv: "a,,1M,L,\n", guid: "xyz", wantErr: "disk GUID"},
		{name: "disk guid reused", csv: "a,,1M,L,B78084E2-3363-1346-8C25-D426F26B8928\n", guid: "b78084e2-3363-1346-8c25-d426f26b8928", wantErr: "t.csv:1: a: GUID B78084E2-3363-1346-8C25-D426F26B8928 is already used by the disk"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := Parse(strings.NewReader(tc.csv), "t.csv")
			if err != nil {
				t.Fatal(err)
			}
			tab, err := Layout(spec, tc.size, tc.guid)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tab.DiskSize != tc.wantSize {
				t.Errorf("disk size %d, want %d", tab.DiskSize, tc.wantSize)
			}
			for i, p := range tab.Partitions {
				if got := [2]int64{p.Start >> 20, p.Size >> 20}; got != tc.want[i] || p.Start%MiB != 0 || p.Size%MiB != 0 {
					t.Errorf("partition %d: start %d size %d, want %v MiB", i+1, p.Start, p.Size, tc.want[i])
				}
				if p.Index != i+1 {
					t.Errorf("partition %d: index %d", i+1, p.Index)
				}
			}
		})
	}
}

func TestDerivedGUIDs(t *testing.T) {
	layout := func(csv string, guid string) *Table {
		t.Helper()
		spec, err := Parse(strings.NewReader(csv), "t.csv")
		if err != nil {
			t.Fatal(err)
		}
		tab, err := Layout(spec, 64<<20, guid)
		if err != nil {
			t.Fatal(err)
		}
		return tab
	}
	const csv = "a,,1M,U,\nb,,1M,L,\n"
	t1, t2 := layout(csv, ""), layout(csv, "")
	if t1.DiskGUID != t2.DiskGUID || t1.Partitions[0].GUID != t2.Partitions[0].GUID {
		t.Fatalf("derived GUIDs differ between runs: %v %v", t1, t2)
	}
	if t1.Partitions[0].GUID == t1.Partitions[1].GUID || t1.DiskGUID == t1.Partitions[0].GUID {
		t.Fatalf("derived GUIDs collide: %+v", t1)
	}
	if t3 := layout("a,,1M,U,\nb,,2M,L,\n", ""); t3.DiskGUID == t1.DiskGUID {
		t.Errorf("disk GUID does not depend on the table content")
	}
	const fixed = "01234567-89AB-CDEF-0123-456789ABCDEF"
	if t4 := layout(csv, strings.ToLower(fixed)); t4.DiskGUID != fixed || t4.Partitions[0].GUID == t1.Partitions[0].GUID {
		t.Errorf("fixed disk GUID: got %s, partition %s", t4.DiskGUID, t4.Partitions[0].GUID)
	}
}
