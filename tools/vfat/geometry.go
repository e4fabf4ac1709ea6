package vfat

import (
	"fmt"
)

// Type is the FAT variant: 12, 16 or 32 (0 lets the writer choose by size).
type Type int

// FAT variants.
const (
	Auto  Type = 0
	FAT12 Type = 12
	FAT16 Type = 16
	FAT32 Type = 32
)

const (
	sectorSize = 512

	// The FAT type is decided by the count of data clusters alone
	// (fatgen103, "FAT Type Determination").
	maxClusters12 = 4084
	maxClusters16 = 65524
	maxClusters32 = 0x0FFFFFF5 // highest cluster number 0x0FFFFFF6 stays below the bad-cluster mark

	// mkfs.fat switches to FAT32 at this size when no type is asked for.
	autoFAT32Size = 512 << 20

	defaultRootEntries = 512
	numFATs            = 2
	mediaFixed         = 0xF8
)

// Geometry is the layout of a FAT volume, in 512-byte sectors.
type Geometry struct {
	Type              Type   // FAT12, FAT16 or FAT32
	TotalSectors      uint32 // whole volume
	SectorsPerCluster uint32 // a power of two, 1..128
	ReservedSectors   uint32 // boot sector (+ FSInfo and backup on FAT32)
	FATSectors        uint32 // length of one FAT copy
	RootEntries       uint32 // fixed root directory slots (0 on FAT32)
	Clusters          uint32 // data clusters, numbered 2..Clusters+1
	SectorsPerTrack   uint16 // CHS geometry recorded in the BPB
	Heads             uint16
}

// ClusterBytes returns the cluster size in bytes.
func (g Geometry) ClusterBytes() int64 { return int64(g.SectorsPerCluster) * sectorSize }

// FATStart returns the first sector of FAT copy i (0 or 1).
func (g Geometry) FATStart(i int) uint32 { return g.ReservedSectors + uint32(i)*g.FATSectors }

// RootStart returns the first sector of the fixed root directory (FAT12/16).
func (g Geometry) RootStart() uint32 { return g.ReservedSectors + numFATs*g.FATSectors }

// rootSectors returns the length of the fixed root directory region.
func (g Geometry) rootSectors() uint32 { return g.RootEntries * 32 / sectorSize }

// DataStart returns the sector of cluster 2.
func (g Geometry) DataStart() uint32 { return g.RootStart() + g.rootSectors() }

// ClusterOffset returns the byte offset of cluster c (c >= 2).
func (g Geometry) ClusterOffset(c uint32) int64 {
	return int64(g.DataStart())*sectorSize + int64(c-2)*g.ClusterBytes()
}

// DataBytes returns the capacity of the data area in bytes.
func (g Geometry) DataBytes() int64 { return int64(g.Clusters) * g.ClusterBytes() }

// typeFor returns the FAT type a volume with n clusters must use.
func typeFor(n uint32) Type {
	switch {
	case n <= maxClusters12:
		return FAT12
	case n <= maxClusters16:
		return FAT16
	default:
		return FAT32
	}
}

// layout computes the geometry of a volume of total sectors with FAT type t
// and spc sectors per cluster, with the smallest FAT that maps every
// cluster. ok reports whether the resulting cluster count is valid for t.
func layout(total uint32, t Type, spc uint32) (g Geometry, ok bool) {
	g = Geometry{Type: t, TotalSectors: total, SectorsPerCluster: spc}
	bits := uint64(t)
	rsvd, rootEnt := uint32(1), uint32(defaultRootEntries)
	if t == FAT32 {
		rsvd, rootEnt = 32, 0
	}
	rootSecs := rootEnt * 32 / sectorSize
	// Like mkfs.fat, align the data area to the cluster size except on
	// floppy-sized volumes: reserved sectors, root directory and FAT
	// lengths are rounded up to whole clusters.
	align := total > 8192
	if align {
		rsvd = roundUp(rsvd, spc)
		rootSecs = roundUp(rootSecs, spc)
		rootEnt = rootSecs * sectorSize / 32
	}
	g.ReservedSectors, g.RootEntries = rsvd, rootEnt
	if uint64(rsvd)+uint64(rootSecs) >= uint64(total) {
		return g, false
	}
	avail := uint64(total - rsvd - rootSecs) // FATs + data
	clusters := func(f uint64) uint64 {
		if numFATs*f >= avail {
			return 0
		}
		return (avail - numFATs*f) / uint64(spc)
	}
	capacity := func(f uint64) uint64 { return f * sectorSize * 8 / bits }
	// Smallest FAT length whose entries cover clusters+2: clusters falls
	// and capacity grows with the length, so bisect.
	lo, hi := uint64(1), avail/numFATs+1
	for lo < hi {
		mid := (lo + hi) / 2
		if capacity(mid) >= clusters(mid)+2 {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	f := lo
	if align {
		f = uint64(roundUp(uint32(f), spc))
	}
	n := clusters(f)
	if f > 0xFFFFFFFF || n == 0 {
		return g, false
	}
	if n > maxClusters32 {
		return g, false
	}
	g.FATSectors, g.Clusters = uint32(f), uint32(n)
	g.SectorsPerTrack, g.Heads = chs(total)
	switch t {
	case FAT12:
		ok = n <= maxClusters12
	case FAT16:
		ok = n > maxClusters12 && n <= maxClusters16
	case FAT32:
		ok = n > maxClusters16 && n <= maxClusters32
	}
	return g, ok
}

// chs picks a BPB geometry. It has no meaning for LBA access, but mtools
// insists that the sector count be a multiple of the sectors per track, so
// the largest divisor of total not above 63 is used, with mkfs.fat's heads.
func chs(total uint32) (spt, heads uint16) {
	for s := uint32(63); s >= 1; s-- {
		if total%s == 0 {
			spt = uint16(s)
			break
		}
	}
	switch {
	case total <= 32768:
		heads = 2
	case total <= 65536:
		heads = 4
	case total <= 262144:
		heads = 8
	case total <= 524288:
		heads = 16
	case total <= 16*63*1024:
		heads = 16
	case total <= 32*63*1024:
		heads = 32
	case total <= 64*63*1024:
		heads = 64
	case total <= 128*63*1024:
		heads = 128
	default:
		heads = 255
	}
	return spt, heads
}

func roundUp(x, m uint32) uint32 { return (x + m - 1) / m * m }

// Plan returns the geometry Options ask for: the FAT type and cluster size
// given, or chosen the way mkfs.fat does (FAT32 from 512 MiB up with
// Microsoft's cluster sizes; below, 2 KiB clusters doubled until FAT12 or
// FAT16 is valid). The cluster count always obeys the fatgen103 rules
// (FAT12 < 4085 <= FAT16 < 65525 <= FAT32); a size that cannot hold a valid
// volume of the requested type is an error.
func Plan(o Options) (Geometry, error) {
	if o.Size <= 0 || o.Size%sectorSize != 0 {
		return Geometry{}, fmt.Errorf("vfat: size %d is not a positive multiple of %d bytes", o.Size, sectorSize)
	}
	if o.Size/sectorSize > 0xFFFFFFFF {
		return Geometry{}, fmt.Errorf("vfat: size %d is larger than the FAT limit of %d bytes (2^32-1 sectors of %d bytes)", o.Size, int64(0xFFFFFFFF)*sectorSize, sectorSize)
	}
	total := uint32(o.Size / sectorSize)
	switch o.Type {
	case Auto, FAT12, FAT16, FAT32:
	default:
		return Geometry{}, fmt.Errorf("vfat: unknown FAT type %d (want 12, 16 or 32)", o.Type)
	}
	var spcs []uint32
	if o.ClusterSize != 0 {
		c := o.ClusterSize
		if c < sectorSize || c > 128*sectorSize || c&(c-1) != 0 {
			return Geometry{}, fmt.Errorf("vfat: cluster size %d is not a power of two between 512 and 65536", c)
		}
		spcs = []uint32{uint32(c / sectorSize)}
	}
	t := o.Type
	if t == Auto && o.ClusterSize == 0 && o.Size >= autoFAT32Size {
		t = FAT32
	}
	var types []Type
	switch {
	case t == Auto && o.ClusterSize == 0:
		types = []Type{FAT12, FAT16} // FAT32 only from autoFAT32Size, like mkfs.fat
	case t == Auto:
		types = []Type{FAT12, FAT16, FAT32}
	default:
		types = []Type{t}
	}
	if spcs == nil {
		// The default, then larger clusters (fewer of them), then smaller.
		start := uint32(4)
		if t == FAT32 {
			start = fat32ClusterSectors(o.Size)
		}
		for s := start; s <= 64; s *= 2 {
			spcs = append(spcs, s)
		}
		for s := start / 2; s >= 1; s /= 2 {
			spcs = append(spcs, s)
		}
	}
	for _, spc := range spcs {
		for _, tt := range types {
			if g, ok := layout(total, tt, spc); ok {
				return g, nil
			}
		}
	}
	what := "a FAT volume"
	if t != Auto {
		what = fmt.Sprintf("a valid FAT%d volume", t)
	}
	if o.ClusterSize != 0 {
		what += fmt.Sprintf(" with %d-byte clusters", o.ClusterSize)
	}
	return Geometry{}, fmt.Errorf("vfat: %d bytes cannot hold %s (cluster counts: FAT12 < %d <= FAT16 < %d <= FAT32)",
		o.Size, what, maxClusters12+1, maxClusters16+1)
}

// fat32ClusterSectors is Microsoft's (and mkfs.fat's) default FAT32 cluster
// size for a volume of size bytes, in sectors.
func fat32ClusterSectors(size int64) uint32 {
	switch {
	case size > 32<<30:
		return 64
	case size > 16<<30:
		return 32
	case size > 8<<30:
		return 16
	case size > 260<<20:
		return 8
	default:
		return 1
	}
}
