package fatr

import (
	"fmt"
	"sort"
)

// Region is a run of sectors with one use.
type Region struct {
	Start, Len uint64 // in sectors
	File       bool   // content of a regular file
	What       string // "boot sector", "FAT 1", "/EFI/BOOT/BOOTX64.EFI", "unallocated"...
}

// Layout tells what each sector of the volume is used for.
type Layout struct {
	fs      *FS
	regions []Region
	owner   map[uint32]*Entry // cluster -> entry
}

// NewLayout maps the reserved sectors, FATs, root directory and the clusters
// of the given entries (as returned by Walk).
func (fs *FS) NewLayout(entries []Entry) *Layout {
	l := &Layout{fs: fs, owner: map[uint32]*Entry{}}
	p := fs.BPB
	add := func(s, n uint32, what string) {
		if n > 0 {
			l.regions = append(l.regions, Region{Start: uint64(s), Len: uint64(n), What: what})
		}
	}
	special := map[uint32]string{0: "boot sector"}
	if fs.Bits == 32 {
		special[p.FSInfoSector] = "FSInfo sector"
		if p.BackupBootSector != 0 {
			special[p.BackupBootSector] = "backup boot sector"
			special[p.BackupBootSector+1] = "backup FSInfo sector"
		}
	}
	for s := uint32(0); s < p.ReservedSectors; s++ {
		if w, ok := special[s]; ok {
			add(s, 1, w)
		} else {
			add(s, 1, "reserved sectors")
		}
	}
	for i := uint32(0); i < p.NumFATs; i++ {
		add(p.ReservedSectors+i*p.FATSectors, p.FATSectors, fmt.Sprintf("FAT %d", i+1))
	}
	add(p.ReservedSectors+p.NumFATs*p.FATSectors, fs.rootSecs, "directory /")
	for i := range entries {
		for _, c := range entries[i].Clusters {
			if _, ok := l.owner[c]; !ok {
				l.owner[c] = &entries[i]
			}
		}
	}
	return l
}

// Describe splits the sectors [start, start+n) into regions by use, merging
// neighbours with the same use.
func (l *Layout) Describe(start, n uint64) []Region {
	var out []Region
	emit := func(r Region) {
		if k := len(out); k > 0 && out[k-1].What == r.What && out[k-1].Start+out[k-1].Len == r.Start {
			out[k-1].Len += r.Len
			return
		}
		out = append(out, r)
	}
	fs := l.fs
	spc := uint64(fs.BPB.SectorsPerCluster)
	for s := start; s < start+n; s++ {
		switch {
		case s >= uint64(fs.BPB.TotalSectors):
			emit(Region{Start: s, Len: start + n - s, What: "beyond the filesystem end"})
			return out
		case s < uint64(fs.dataSec):
			i := sort.Search(len(l.regions), func(i int) bool { return l.regions[i].Start+l.regions[i].Len > s })
			emit(Region{Start: s, Len: 1, What: l.regions[i].What})
		default:
			c := uint32((s-uint64(fs.dataSec))/spc) + 2
			switch e, ok := l.owner[c]; {
			case c >= fs.clusters+2:
				emit(Region{Start: s, Len: 1, What: "past the last cluster"})
			case ok && e.IsDir():
				emit(Region{Start: s, Len: 1, What: "directory " + e.Path})
			case ok:
				emit(Region{Start: s, Len: 1, File: true, What: e.Path})
			case fs.Free(c):
				emit(Region{Start: s, Len: 1, What: "unallocated"})
			default:
				emit(Region{Start: s, Len: 1, What: "allocated cluster, owner unknown"})
			}
		}
	}
	return out
}
