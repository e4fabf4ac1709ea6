package ext4

import (
	"encoding/binary"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// GroupDesc is a 32-byte block group descriptor (no 64bit feature).
type GroupDesc struct {
	BlockBitmap     uint32
	InodeBitmap     uint32
	InodeTable      uint32
	FreeBlocks      uint16
	FreeInodes      uint16
	UsedDirs        uint16
	Flags           uint16
	BlockBitmapCsum uint16
	InodeBitmapCsum uint16
	ItableUnused    uint16
}

// marshal encodes the descriptor of group g into b (32 bytes), with the
// metadata_csum checksum: crc32c(seed, le32(g) || desc with bg_checksum 0).
func (d *GroupDesc) marshal(b []byte, csumSeed uint32, g uint32) {
	le := binary.LittleEndian
	le.PutUint32(b[0x00:], d.BlockBitmap)
	le.PutUint32(b[0x04:], d.InodeBitmap)
	le.PutUint32(b[0x08:], d.InodeTable)
	le.PutUint16(b[0x0C:], d.FreeBlocks)
	le.PutUint16(b[0x0E:], d.FreeInodes)
	le.PutUint16(b[0x10:], d.UsedDirs)
	le.PutUint16(b[0x12:], d.Flags)
	le.PutUint32(b[0x14:], 0) // bg_exclude_bitmap_lo
	le.PutUint16(b[0x18:], d.BlockBitmapCsum)
	le.PutUint16(b[0x1A:], d.InodeBitmapCsum)
	le.PutUint16(b[0x1C:], d.ItableUnused)
	le.PutUint16(b[0x1E:], 0)
	c := crc32c(csumSeed, le32(g))
	c = crc32c(c, b[:ondisk.DescSize])
	le.PutUint16(b[0x1E:], uint16(c))
}

// hasSuper reports whether group g holds a superblock backup under
// sparse_super: groups 0, 1 and the powers of 3, 5 and 7.
func hasSuper(g uint32) bool {
	if g <= 1 {
		return true
	}
	for _, base := range []uint32{3, 5, 7} {
		n := base
		for n < g {
			n *= base
		}
		if n == g {
			return true
		}
	}
	return false
}

// bitmap is a plain little-endian bit array, as ext4 stores bitmaps.
type bitmap []byte

func newBitmap(bits uint64) bitmap { return make(bitmap, (bits+7)/8) }

func (b bitmap) set(i uint64)      { b[i>>3] |= 1 << (i & 7) }
func (b bitmap) get(i uint64) bool { return b[i>>3]&(1<<(i&7)) != 0 }
func (b bitmap) setRange(i, n uint64) {
	for ; n > 0 && i&7 != 0; n-- {
		b.set(i)
		i++
	}
	for ; n >= 8; n -= 8 {
		b[i>>3] = 0xFF
		i += 8
	}
	for ; n > 0; n-- {
		b.set(i)
		i++
	}
}
