package ext4

import (
	"encoding/binary"
	"fmt"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

const (
	rootEntries   = 4                     // (60 - 12) / 12 in i_block
	blockEntries  = (blockSize - 12) / 12 // 340 entries per tree block
	extentTailOff = 12 + blockEntries*12  // ext4_extent_tail.et_checksum
)

// Extent maps Len logical blocks starting at Logical to physical blocks
// starting at Physical.
type Extent struct {
	Logical  uint32
	Len      uint16
	Physical uint32
}

// extentList accumulates extents, merging runs that continue the last one.
type extentList []Extent

func (l *extentList) add(logical, physical, n uint32) {
	for n > 0 {
		if k := len(*l); k > 0 {
			e := &(*l)[k-1]
			if e.Logical+uint32(e.Len) == logical && e.Physical+uint32(e.Len) == physical && e.Len < ondisk.MaxInitExtentLen {
				m := min(n, ondisk.MaxInitExtentLen-uint32(e.Len))
				e.Len += uint16(m)
				logical, physical, n = logical+m, physical+m, n-m
				continue
			}
		}
		m := min(n, ondisk.MaxInitExtentLen)
		*l = append(*l, Extent{Logical: logical, Len: uint16(m), Physical: physical})
		logical, physical, n = logical+m, physical+m, n-m
	}
}

func putHeader(b []byte, entries, max, depth int) {
	le := binary.LittleEndian
	le.PutUint16(b[0:], ondisk.ExtentMagic)
	le.PutUint16(b[2:], uint16(entries))
	le.PutUint16(b[4:], uint16(max))
	le.PutUint16(b[6:], uint16(depth))
	le.PutUint32(b[8:], 0)
}

func putExtent(b []byte, e Extent) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], e.Logical)
	le.PutUint16(b[4:], e.Len)
	le.PutUint16(b[6:], 0)
	le.PutUint32(b[8:], e.Physical)
}

func putIndex(b []byte, logical, leaf uint32) {
	le := binary.LittleEndian
	le.PutUint32(b[0:], logical)
	le.PutUint32(b[4:], leaf)
	le.PutUint32(b[8:], 0)
}

// treeBlocks returns how many extent tree blocks n extents need.
func treeBlocks(n int) int {
	total := 0
	for n > rootEntries {
		n = (n + blockEntries - 1) / blockEntries
		total += n
	}
	return total
}

// buildExtentTree encodes the extent tree for exts into the inode's i_block.
// Extents that do not fit the 4 root slots go to tree blocks at the physical
// blocks in blocks (len == treeBlocks(len(exts))); the encoded blocks are
// passed to write. seed is the inode's checksum seed.
func buildExtentTree(root *[60]byte, exts []Extent, blocks []uint32, seed uint32, write func(blk uint32, b []byte) error) error {
	if len(blocks) != treeBlocks(len(exts)) {
		return fmt.Errorf("extent tree: %d blocks for %d extents", len(blocks), len(exts))
	}
	type node struct{ logical, phys uint32 }
	depth := 0
	// Level 0: leaves of extents.
	var level []node
	if len(exts) <= rootEntries {
		putHeader(root[:], len(exts), rootEntries, 0)
		for i, e := range exts {
			putExtent(root[12+12*i:], e)
		}
		return nil
	}
	buf := make([]byte, blockSize)
	next := 0
	for i := 0; i < len(exts); i += blockEntries {
		chunk := exts[i:min(i+blockEntries, len(exts))]
		clear(buf)
		putHeader(buf, len(chunk), blockEntries, 0)
		for j, e := range chunk {
			putExtent(buf[12+12*j:], e)
		}
		blk := blocks[next]
		next++
		binary.LittleEndian.PutUint32(buf[extentTailOff:], crc32c(seed, buf[:extentTailOff]))
		if err := write(blk, buf); err != nil {
			return err
		}
		level = append(level, node{chunk[0].Logical, blk})
	}
	depth = 1
	for len(level) > rootEntries {
		var up []node
		for i := 0; i < len(level); i += blockEntries {
			chunk := level[i:min(i+blockEntries, len(level))]
			clear(buf)
			putHeader(buf, len(chunk), blockEntries, depth)
			for j, nd := range chunk {
				putIndex(buf[12+12*j:], nd.logical, nd.phys)
			}
			blk := blocks[next]
			next++
			binary.LittleEndian.PutUint32(buf[extentTailOff:], crc32c(seed, buf[:extentTailOff]))
			if err := write(blk, buf); err != nil {
				return err
			}
			up = append(up, node{chunk[0].logical, blk})
		}
		level = up
		depth++
	}
	putHeader(root[:], len(level), rootEntries, depth)
	for i, nd := range level {
		putIndex(root[12+12*i:], nd.logical, nd.phys)
	}
	return nil
}
