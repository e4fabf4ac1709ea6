package ext4

import (
	"errors"
	"fmt"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// layout is the fixed geometry of the filesystem, decided from the image
// size before any entry is read.
type layout struct {
	blocks    uint32 // blocks in the filesystem
	groups    uint32
	ipg       uint32 // inodes per group
	itb       uint32 // inode table blocks per group
	gdtBlocks uint32
	inodeSize int

	blockBitmap []uint32
	inodeBitmap []uint32
	inodeTable  []uint32
}

// errNoSpace is returned by the allocator when the image is full.
var errNoSpace = errors.New("no space left")

// allocator hands out blocks in ascending order from a cursor, skipping
// blocks already in use (superblock backups, group descriptors, metadata).
type allocator struct {
	used   bitmap // one bit per block of all groups; padding bits set
	blocks uint32
	next   uint32
}

// alloc returns the start and length of a free run of at most n blocks.
func (a *allocator) alloc(n uint32) (start, got uint32, err error) {
	for a.next < a.blocks && a.used.get(uint64(a.next)) {
		a.next++
	}
	if a.next >= a.blocks {
		return 0, 0, errNoSpace
	}
	start = a.next
	for got < n && a.next < a.blocks && !a.used.get(uint64(a.next)) {
		a.used.set(uint64(a.next))
		a.next++
		got++
	}
	return start, got, nil
}

// allocContig returns n contiguous free blocks.
func (a *allocator) allocContig(n uint32) (uint32, error) {
	for {
		for a.next < a.blocks && a.used.get(uint64(a.next)) {
			a.next++
		}
		if a.next+n > a.blocks {
			return 0, errNoSpace
		}
		ok := true
		for i := uint32(0); i < n; i++ {
			if a.used.get(uint64(a.next + i)) {
				a.next += i
				ok = false
				break
			}
		}
		if ok {
			a.used.setRange(uint64(a.next), uint64(n))
			a.next += n
			return a.next - n, nil
		}
	}
}

// newLayout computes the geometry for an image of size bytes and places
// the group metadata (bitmaps, then inode tables, flex_bg style) right
// after the primary group descriptors.
func newLayout(size int64, inodeSize, inodeRatio int) (*layout, *allocator, error) {
	if size/blockSize > 0xFFFFFFFF {
		return nil, nil, fmt.Errorf("size %d bytes is above the 16 TiB limit of 32-bit block numbers", size)
	}
	blocks := uint32(size / blockSize)
	const minBlocks = 64
	if blocks < minBlocks {
		return nil, nil, fmt.Errorf("size %d bytes is below the minimum of %d bytes", size, minBlocks*blockSize)
	}
	l := &layout{inodeSize: inodeSize}
	groups := (blocks + blocksPerGroup - 1) / blocksPerGroup
	gdt := func(g uint32) uint32 { return (g*ondisk.DescSize + blockSize - 1) / blockSize }
	if last := blocks - (groups-1)*blocksPerGroup; groups > 1 {
		// Drop a last group too small to hold its own superblock backup
		// and some data, as mke2fs does.
		over := uint32(0)
		if hasSuper(groups - 1) {
			over = 1 + gdt(groups)
		}
		if last < over+50 {
			blocks -= last
			groups--
		}
	}
	l.blocks, l.groups, l.gdtBlocks = blocks, groups, gdt(groups)

	perBlock := uint32(blockSize / inodeSize)
	unit := max(perBlock, 8)
	inodes := uint64(blocks) * blockSize / uint64(inodeRatio)
	ipg := uint32((inodes + uint64(groups) - 1) / uint64(groups))
	ipg = (ipg + unit - 1) / unit * unit
	ipg = max(ipg, 2*unit, 16)
	ipg = min(ipg, blockSize*8/unit*unit)
	if uint64(ipg)*uint64(groups) > 0xFFFFFFFF {
		ipg = uint32(0xFFFFFFFF/uint64(groups)) / unit * unit
	}
	l.ipg, l.itb = ipg, ipg/perBlock

	a := &allocator{used: newBitmap(uint64(groups) * blocksPerGroup), blocks: blocks}
	a.used.setRange(uint64(blocks), uint64(groups)*blocksPerGroup-uint64(blocks))
	for g := uint32(0); g < groups; g++ {
		if hasSuper(g) {
			start := g * blocksPerGroup
			a.used.setRange(uint64(start), uint64(min(1+l.gdtBlocks, blocks-start)))
		}
	}
	l.blockBitmap = make([]uint32, groups)
	l.inodeBitmap = make([]uint32, groups)
	l.inodeTable = make([]uint32, groups)
	var err error
	for g := range groups {
		if l.blockBitmap[g], err = a.allocContig(1); err != nil {
			return nil, nil, fmt.Errorf("size %d bytes is too small for the filesystem metadata", size)
		}
	}
	for g := range groups {
		if l.inodeBitmap[g], err = a.allocContig(1); err != nil {
			return nil, nil, fmt.Errorf("size %d bytes is too small for the filesystem metadata", size)
		}
	}
	for g := range groups {
		if l.inodeTable[g], err = a.allocContig(l.itb); err != nil {
			return nil, nil, fmt.Errorf("size %d bytes is too small for the filesystem metadata", size)
		}
	}
	return l, a, nil
}
