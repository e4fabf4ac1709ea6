package imgdiff

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strings"
	"unicode/utf16"
)

const sector = 512

// gptHeader is a decoded GPT header with its partition entries (UEFI 2.10
// section 5.3).
type gptHeader struct {
	CurrentLBA, BackupLBA uint64
	FirstUsable           uint64
	LastUsable            uint64
	DiskGUID              string
	EntriesLBA            uint64
	NumEntries            uint32
	EntrySize             uint32
	Parts                 map[int]gptEntry // by 1-based index, used entries only
}

type gptEntry struct {
	Type, GUID  string
	First, Last uint64
	Attrs       uint64
	Name        string
}

func guid(b []byte) string {
	le := binary.LittleEndian
	return strings.ToUpper(fmt.Sprintf("%08x-%04x-%04x-%x-%x", le.Uint32(b), le.Uint16(b[4:]), le.Uint16(b[6:]), b[8:10], b[10:16]))
}

// readGPT reads the GPT header at lba and its entries.
func readGPT(v *view, lba int64) (*gptHeader, error) {
	b := make([]byte, sector)
	if err := readFull(v, b, lba*sector); err != nil {
		return nil, fmt.Errorf("GPT header at LBA %d: %w", lba, err)
	}
	if string(b[:8]) != "EFI PART" {
		return nil, fmt.Errorf("GPT header at LBA %d: %w", lba, errNotGPT)
	}
	le := binary.LittleEndian
	hs := le.Uint32(b[12:])
	if hs < 92 || hs > sector {
		return nil, fmt.Errorf("GPT header at LBA %d: bad header size %d", lba, hs)
	}
	c := append([]byte(nil), b[:hs]...)
	copy(c[16:20], []byte{0, 0, 0, 0})
	if crc32.ChecksumIEEE(c) != le.Uint32(b[16:]) {
		return nil, fmt.Errorf("GPT header at LBA %d: bad CRC", lba)
	}
	h := &gptHeader{
		CurrentLBA:  le.Uint64(b[24:]),
		BackupLBA:   le.Uint64(b[32:]),
		FirstUsable: le.Uint64(b[40:]),
		LastUsable:  le.Uint64(b[48:]),
		DiskGUID:    guid(b[56:]),
		EntriesLBA:  le.Uint64(b[72:]),
		NumEntries:  le.Uint32(b[80:]),
		EntrySize:   le.Uint32(b[84:]),
		Parts:       map[int]gptEntry{},
	}
	if h.EntrySize < 128 || h.EntrySize > 4096 || h.NumEntries > 4096 {
		return nil, fmt.Errorf("GPT header at LBA %d: bad entry table %d x %d", lba, h.NumEntries, h.EntrySize)
	}
	tab := make([]byte, int(h.NumEntries)*int(h.EntrySize))
	if err := readFull(v, tab, int64(h.EntriesLBA)*sector); err != nil {
		return nil, fmt.Errorf("GPT entries at LBA %d: %w", h.EntriesLBA, err)
	}
	if crc32.ChecksumIEEE(tab) != le.Uint32(b[88:]) {
		return nil, fmt.Errorf("GPT entries at LBA %d: bad CRC", h.EntriesLBA)
	}
	for i := 0; i < int(h.NumEntries); i++ {
		e := tab[i*int(h.EntrySize):]
		if bytes.Equal(e[:16], make([]byte, 16)) {
			continue
		}
		var name []uint16
		for j := 56; j+1 < 128; j += 2 {
			u := le.Uint16(e[j:])
			if u == 0 {
				break
			}
			name = append(name, u)
		}
		h.Parts[i+1] = gptEntry{
			Type:  guid(e[0:]),
			GUID:  guid(e[16:]),
			First: le.Uint64(e[32:]),
			Last:  le.Uint64(e[40:]),
			Attrs: le.Uint64(e[48:]),
			Name:  string(utf16.Decode(name)),
		}
	}
	return h, nil
}

// gptFieldDiffs lists the differing fields of two GPT headers, without prefix.
func gptFieldDiffs(a, b *gptHeader) []string {
	var out []string
	cmp := func(field string, x, y any) {
		if x != y {
			out = append(out, fmt.Sprintf("%s %v != %v", field, x, y))
		}
	}
	cmp("disk GUID", a.DiskGUID, b.DiskGUID)
	cmp("backup header LBA", a.BackupLBA, b.BackupLBA)
	cmp("first usable LBA", a.FirstUsable, b.FirstUsable)
	cmp("last usable LBA", a.LastUsable, b.LastUsable)
	cmp("entries LBA", a.EntriesLBA, b.EntriesLBA)
	cmp("entry count", a.NumEntries, b.NumEntries)
	cmp("entry size", a.EntrySize, b.EntrySize)
	for _, i := range partIndexes(a, b) {
		pa, okA := a.Parts[i]
		pb, okB := b.Parts[i]
		p := fmt.Sprintf("partition %d: ", i)
		switch {
		case !okB:
			out = append(out, p+"only in A")
		case !okA:
			out = append(out, p+"only in B")
		default:
			cmp(p+"name", fmt.Sprintf("%q", pa.Name), fmt.Sprintf("%q", pb.Name))
			cmp(p+"type GUID", pa.Type, pb.Type)
			cmp(p+"partition GUID", pa.GUID, pb.GUID)
			cmp(p+"bounds (LBA)", fmt.Sprintf("%d-%d", pa.First, pa.Last), fmt.Sprintf("%d-%d", pb.First, pb.Last))
			cmp(p+"attributes", fmt.Sprintf("%#x", pa.Attrs), fmt.Sprintf("%#x", pb.Attrs))
		}
	}
	return out
}

// partIndexes returns the sorted union of used partition indexes.
func partIndexes(a, b *gptHeader) []int {
	var out []int
	n := max(a.NumEntries, b.NumEntries)
	for i := 1; i <= int(n); i++ {
		_, okA := a.Parts[i]
		_, okB := b.Parts[i]
		if okA || okB {
			out = append(out, i)
		}
	}
	return out
}

// diffDisk compares two GPT disks: the protective MBR, both GPT copies, each
// partition (by index) and the space outside partitions.
func (r *report) diffDisk(prefix string, a, b *view) error {
	join := func(s string) string {
		if prefix == "" {
			return s
		}
		return prefix + ": " + s
	}
	if a.size != b.size {
		r.add(prefix, "disk size %d != %d", a.size, b.size)
	}
	if rs, err := diffRanges(a.sub(0, sector), b.sub(0, sector), sector, sector, 1); err != nil {
		return err
	} else if len(rs) > 0 {
		r.add(join("protective MBR"), "bytes %s differ", formatRanges(rs, r.max))
	}
	ha, errA := readGPT(a, 1)
	hb, errB := readGPT(b, 1)
	if errA != nil || errB != nil {
		if errA != nil {
			r.add(join("GPT"), "A: %v", errA)
		}
		if errB != nil {
			r.add(join("GPT"), "B: %v", errB)
		}
		rs, err := diffRanges(a, b, a.size, b.size, 4096)
		if err != nil {
			return err
		}
		r.add(prefix, "bytes %s differ", formatRanges(rs, r.max))
		return nil
	}
	primary := gptFieldDiffs(ha, hb)
	for _, l := range primary {
		r.add(join("GPT"), "%s", l)
	}
	seen := map[string]bool{}
	for _, l := range primary {
		seen[l] = true
	}
	ba, errA := readGPT(a, int64(ha.BackupLBA))
	bb, errB := readGPT(b, int64(hb.BackupLBA))
	switch {
	case errA != nil || errB != nil:
		if errA != nil {
			r.add(join("GPT backup"), "A: %v", errA)
		}
		if errB != nil {
			r.add(join("GPT backup"), "B: %v", errB)
		}
	default:
		for _, l := range gptFieldDiffs(ba, bb) {
			if !seen[l] && !strings.HasPrefix(l, "backup header LBA") && !strings.HasPrefix(l, "entries LBA") {
				r.add(join("GPT backup"), "%s", l)
			}
		}
	}
	// Structures whose bytes differ though no field does (reserved bytes).
	structs := []struct {
		what     string
		lba, len int64
	}{
		{"GPT header", 1, 1},
		{"GPT entries", int64(ha.EntriesLBA), (int64(ha.NumEntries)*int64(ha.EntrySize) + sector - 1) / sector},
		{"GPT backup entries", int64(ba.EntriesLBA), (int64(ba.NumEntries)*int64(ba.EntrySize) + sector - 1) / sector},
		{"GPT backup header", int64(ha.BackupLBA), 1},
	}
	if len(primary) == 0 {
		for _, s := range structs {
			rs, err := diffRanges(a.sub(s.lba*sector, s.len*sector), b.sub(s.lba*sector, s.len*sector), s.len*sector, s.len*sector, 1)
			if err != nil {
				return err
			}
			if len(rs) > 0 {
				r.add(join(s.what), "bytes %s differ though no field does", formatRanges(rs, r.max))
			}
		}
	}
	// Partitions, by index in A's table (bounds from each side's table).
	used := []Range{{0, 2 * sector}}
	for _, s := range structs[1:] {
		used = append(used, Range{s.lba * sector, (s.lba + s.len) * sector})
	}
	for _, i := range partIndexes(ha, hb) {
		pa, okA := ha.Parts[i]
		pb, okB := hb.Parts[i]
		if !okA || !okB {
			continue
		}
		used = append(used, Range{int64(pa.First) * sector, int64(pa.Last+1) * sector})
		name := pa.Name
		if pb.Name != pa.Name {
			name += "/" + pb.Name
		}
		va := a.sub(int64(pa.First)*sector, int64(pa.Last-pa.First+1)*sector)
		vb := b.sub(int64(pb.First)*sector, int64(pb.Last-pb.First+1)*sector)
		if err := r.diffImage(join(fmt.Sprintf("partition %d %s", i, name)), va, vb); err != nil {
			return err
		}
	}
	// Space outside partitions and GPT structures (in A's layout).
	sortRanges(used)
	var gaps []Range
	pos := int64(0)
	for _, u := range used {
		if u.Start > pos {
			gaps = append(gaps, Range{pos, u.Start})
		}
		pos = max(pos, u.End)
	}
	if end := max(a.size, b.size); end > pos {
		gaps = append(gaps, Range{pos, end})
	}
	var diff []Range
	for _, g := range gaps {
		rs, err := diffRanges(a.sub(g.Start, g.End-g.Start), b.sub(g.Start, g.End-g.Start),
			min(a.size, g.End)-min(a.size, g.Start), min(b.size, g.End)-min(b.size, g.Start), sector)
		if err != nil {
			return err
		}
		for _, x := range rs {
			diff = addRange(diff, g.Start+x.Start, g.Start+x.End)
		}
	}
	if len(diff) > 0 {
		r.add(join("outside partitions"), "bytes %s differ", formatRanges(diff, r.max))
	}
	return nil
}

func sortRanges(rs []Range) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Start < rs[j-1].Start; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}
