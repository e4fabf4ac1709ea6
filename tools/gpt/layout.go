package gpt

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// SectorSize is the logical sector size of the disks we write.
const SectorSize = 512

// backupSectors is the size of the backup GPT at the end of the disk: the
// 128-entry partition array (32 sectors) and the header (1 sector).
const backupSectors = 33

// firstUsable is the first byte a partition may use: after the protective
// MBR, the primary header and the primary partition array.
const firstUsable = 34 * SectorSize

// guidNamespace is the name space of the GUIDs derived by Layout (a fixed,
// arbitrary UUID, so derived GUIDs never change between releases).
var guidNamespace = uuid.MustParse("6c1b2f0e-3d44-4b8a-9a57-1f0c3e5d7a92")

// Partition is one resolved partition of a Table.
type Partition struct {
	Index int    // partition number, 1-based, in table order
	Line  int    // line of partitions.csv it came from
	Name  string // GPT partition name
	Start int64  // first byte
	Size  int64  // length in bytes
	Type  string // type GUID, upper case
	GUID  string // partition GUID, upper case
}

// End returns the byte just after the partition.
func (p Partition) End() int64 { return p.Start + p.Size }

// Table is a fully resolved and validated partition table for a disk.
type Table struct {
	DiskGUID   string      // disk GUID, upper case
	DiskSize   int64       // disk size in bytes, a multiple of SectorSize
	Partitions []Partition // in table order
}

// Layout resolves the rows of spec into partitions on a disk of diskSize
// bytes and validates them: packed starts, "rest", overlaps, the end of the
// disk (before the backup GPT) and unique GUIDs. A diskSize of 0 means the
// smallest disk holding every partition plus 1 MiB for the backup GPT.
// An empty diskGUID means one derived from the table content.
func Layout(spec *Spec, diskSize int64, diskGUID string) (*Table, error) {
	src := spec.Source
	if diskSize < 0 || diskSize%SectorSize != 0 {
		return nil, fmt.Errorf("gpt: %s: disk size %d is not a multiple of %d", src, diskSize, SectorSize)
	}
	if diskSize == 0 && spec.Rows[len(spec.Rows)-1].Size < 0 {
		return nil, fmt.Errorf("gpt: %s: size \"rest\" needs a disk size", src)
	}
	limit := int64(1) << 62
	if diskSize > 0 {
		// The last byte a partition may use is before the backup GPT;
		// "rest" stops at the last whole MiB before it.
		limit = diskSize - backupSectors*SectorSize
	}
	parts := make([]Partition, len(spec.Rows))
	next := int64(MiB)
	for i, row := range spec.Rows {
		p := Partition{Index: i + 1, Line: row.Line, Name: row.Name, Start: row.Start, Size: row.Size, Type: row.Type, GUID: row.GUID}
		if p.Start < 0 {
			p.Start = next
		}
		if p.Start < firstUsable {
			return nil, fmt.Errorf("gpt: %s:%d: %s: start %d overlaps the primary GPT", src, row.Line, row.Name, p.Start)
		}
		if p.Size < 0 {
			p.Size = (limit/MiB)*MiB - p.Start
			if p.Size <= 0 {
				return nil, fmt.Errorf("gpt: %s:%d: %s: no room left for \"rest\" (start %d, disk %d bytes)", src, row.Line, row.Name, p.Start, diskSize)
			}
		}
		// Start and size are each below 2^63: compare without forming
		// their sum, which can overflow int64.
		if p.Start > limit || p.Size > limit-p.Start {
			return nil, fmt.Errorf("gpt: %s:%d: %s: ends at byte %d, past the last usable byte %d of a %d-byte disk (the backup GPT takes the last %d sectors)",
				src, row.Line, row.Name, uint64(p.Start)+uint64(p.Size), limit, diskSize, backupSectors)
		}
		next = p.End()
		parts[i] = p
	}
	for i := range parts {
		for j := range parts {
			a, b := parts[i], parts[j]
			if i != j && a.Start <= b.Start && b.Start < a.End() && (a.Start != b.Start || i < j) {
				return nil, fmt.Errorf("gpt: %s:%d: %s: [%d, %d) overlaps %s (line %d) at [%d, %d)",
					src, b.Line, b.Name, b.Start, b.End(), a.Name, a.Line, a.Start, a.End())
			}
		}
	}
	if diskSize == 0 {
		for _, p := range parts {
			diskSize = max(diskSize, p.End()+MiB)
		}
	}
	t := &Table{DiskSize: diskSize, Partitions: parts}
	if diskGUID == "" {
		t.DiskGUID = strings.ToUpper(uuid.NewSHA1(guidNamespace, t.canonical()).String())
	} else {
		g, err := ParseGUID(diskGUID)
		if err != nil {
			return nil, fmt.Errorf("gpt: %s: disk GUID: %w", src, err)
		}
		t.DiskGUID = g
	}
	seen := map[string]string{t.DiskGUID: "the disk"}
	disk := uuid.MustParse(t.DiskGUID)
	for i := range t.Partitions {
		p := &t.Partitions[i]
		if p.GUID == "" {
			p.GUID = strings.ToUpper(uuid.NewSHA1(disk, []byte(p.Name)).String())
		}
		if other, ok := seen[p.GUID]; ok {
			return nil, fmt.Errorf("gpt: %s:%d: %s: GUID %s is already used by %s", src, p.Line, p.Name, p.GUID, other)
		}
		seen[p.GUID] = "partition " + p.Name
	}
	return t, nil
}

// canonical returns the table content the default disk GUID is derived
// from: disk size and every partition's fields, in table order.
func (t *Table) canonical() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, "disk %d\n", t.DiskSize)
	for _, p := range t.Partitions {
		fmt.Fprintf(&b, "%d,%s,%d,%d,%s,%s\n", p.Index, p.Name, p.Start, p.Size, p.Type, p.GUID)
	}
	return []byte(b.String())
}

// Lookup returns the partition named name.
func (t *Table) Lookup(name string) (Partition, bool) {
	for _, p := range t.Partitions {
		if p.Name == name {
			return p, true
		}
	}
	return Partition{}, false
}
