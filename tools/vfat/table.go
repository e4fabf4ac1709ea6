package vfat

import "encoding/binary"

// extent is a run of consecutive clusters holding one file or directory:
// every cluster points to the next and the last one ends the chain.
type extent struct{ start, n uint32 }

// eoc returns the end-of-chain mark of FAT type t (also stored in entry 1).
func eoc(t Type) uint32 {
	switch t {
	case FAT12:
		return 0xFFF
	case FAT16:
		return 0xFFFF
	default:
		return 0x0FFFFFFF
	}
}

// fatEncoder produces the FAT entries of a volume whose allocated clusters
// are exactly the given extents, sorted by start and with no gaps between
// cluster 2 and the first free cluster.
type fatEncoder struct {
	g       Geometry
	extents []extent
	i       int // extent holding the last entry asked for
}

// entry returns the value of FAT entry e. Entries must be asked for in
// increasing order.
func (f *fatEncoder) entry(e uint32) uint32 {
	switch {
	case e == 0:
		return eoc(f.g.Type)&^0xFF | mediaFixed
	case e == 1:
		return eoc(f.g.Type)
	case e >= f.g.Clusters+2:
		return 0
	}
	for f.i < len(f.extents) && e >= f.extents[f.i].start+f.extents[f.i].n {
		f.i++
	}
	if f.i == len(f.extents) || e < f.extents[f.i].start {
		return 0 // free
	}
	if e == f.extents[f.i].start+f.extents[f.i].n-1 {
		return eoc(f.g.Type)
	}
	return e + 1
}

// fill encodes the entries stored in bytes [off, off+len(b)) of one FAT
// copy into b. For FAT12 off must be 0 or a multiple of 3 (two entries
// share three bytes).
func (f *fatEncoder) fill(b []byte, off int64) {
	clear(b)
	switch f.g.Type {
	case FAT12:
		first := uint32(off / 3 * 2)
		for e := first; ; e++ {
			p := int64(e)*3/2 - off
			if p+1 >= int64(len(b)) {
				if p < int64(len(b)) && e%2 == 0 {
					b[p] = byte(f.entry(e))
				}
				break
			}
			v := f.entry(e)
			if e%2 == 0 {
				b[p] = byte(v)
				b[p+1] = b[p+1]&0xF0 | byte(v>>8)&0x0F
			} else {
				b[p] = b[p]&0x0F | byte(v<<4)
				b[p+1] = byte(v >> 4)
			}
		}
	case FAT16:
		first := uint32(off / 2)
		for k := 0; k+1 < len(b); k += 2 {
			binary.LittleEndian.PutUint16(b[k:], uint16(f.entry(first+uint32(k/2))))
		}
	case FAT32:
		first := uint32(off / 4)
		for k := 0; k+3 < len(b); k += 4 {
			binary.LittleEndian.PutUint32(b[k:], f.entry(first+uint32(k/4)))
		}
	}
}
