package ext4

import (
	"cmp"
	"encoding/binary"
	"slices"
	"strings"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// Directory block tail (metadata_csum).
const (
	dirTailLen = 12 // ext4_dir_entry_tail (metadata_csum)
	dirSpace   = blockSize - dirTailLen
)

// DirEntry is one name in a directory.
type DirEntry struct {
	Inode uint32
	Type  uint8
	Name  string
}

func fileType(mode uint16) uint8 {
	switch mode & ondisk.ModeType {
	case ondisk.ModeRegular:
		return ondisk.FileTypeRegular
	case ondisk.ModeDir:
		return ondisk.FileTypeDir
	case ondisk.ModeChar:
		return ondisk.FileTypeChar
	case ondisk.ModeBlock:
		return ondisk.FileTypeBlock
	case ondisk.ModeFIFO:
		return ondisk.FileTypeFIFO
	case ondisk.ModeSocket:
		return ondisk.FileTypeSocket
	case ondisk.ModeSymlink:
		return ondisk.FileTypeSymlink
	}
	return 0
}

func recLen(nameLen int) int { return (8 + nameLen + 3) &^ 3 }

// linearDirBlocks lays out entries (which must start with "." and "..")
// as a linear directory: each block filled in order, the last entry of a
// block stretched to the checksum tail. minBlocks pads with empty blocks
// (lost+found is preallocated to 16 KiB). Checksums are added by
// sealDirBlock once the inode number is known.
func linearDirBlocks(entries []DirEntry, minBlocks int) []byte {
	le := binary.LittleEndian
	var out []byte
	var blk []byte
	last := -1 // offset of the last entry in blk
	flush := func() {
		if blk == nil {
			return
		}
		if last >= 0 {
			le.PutUint16(blk[last+4:], uint16(dirSpace-last))
		}
		out = append(out, blk...)
		blk, last = nil, -1
	}
	off := 0
	for _, e := range entries {
		n := recLen(len(e.Name))
		if blk != nil && off+n > dirSpace {
			flush()
		}
		if blk == nil {
			blk = make([]byte, blockSize)
			off = 0
		}
		le.PutUint32(blk[off:], e.Inode)
		le.PutUint16(blk[off+4:], uint16(n))
		blk[off+6] = uint8(len(e.Name))
		blk[off+7] = e.Type
		copy(blk[off+8:], e.Name)
		last = off
		off += n
	}
	flush()
	for len(out) < minBlocks*blockSize {
		blk = make([]byte, blockSize)
		le.PutUint16(blk[4:], dirSpace) // one unused entry covering the block
		out = append(out, blk...)
	}
	return out
}

// sealDirBlock writes the metadata_csum tail of a directory leaf block.
func sealDirBlock(b []byte, seed uint32) {
	le := binary.LittleEndian
	t := b[dirSpace:]
	le.PutUint32(t[0:], 0)
	le.PutUint16(t[4:], dirTailLen)
	t[6] = 0
	t[7] = 0xDE
	le.PutUint32(t[8:], crc32c(seed, b[:dirSpace]))
}

// Hash tree (dir_index) directories, kernel Documentation/filesystems/ext4
// "Hash Tree Directories": block 0 holds ".", ".." and the dx_root; with
// more leaves than one root holds, one level of dx_node blocks follows;
// then the leaf blocks, ordinary directory blocks whose entries are sorted
// by hash.
const (
	dxRootLimit = (blockSize - 32 - 8) / 8 // 507 entries (8-byte dx_tail)
	dxNodeLimit = (blockSize - 8 - 8) / 8  // 510 entries
	htreeEOF    = 0x7fffffff
)

// dirHash is the half_md4 directory hash with unsigned characters (the
// filesystem sets EXT2_FLAGS_UNSIGNED_HASH), seeded with s_hash_seed.
func dirHash(name string, seed *[4]uint32) (hash, minor uint32) {
	buf := *seed
	if buf == [4]uint32{} {
		buf = [4]uint32{0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476}
	}
	var in [8]uint32
	p := []byte(name)
	for first := true; first || len(p) > 0; first = false {
		str2hashbuf(p, &in)
		halfMD4(&buf, &in)
		if len(p) <= 32 {
			break
		}
		p = p[32:]
	}
	hash = buf[1] &^ 1
	if hash == htreeEOF<<1 {
		hash = (htreeEOF - 1) << 1
	}
	return hash, buf[2]
}

// str2hashbuf packs up to 32 bytes of msg into 8 words, padded with a
// value derived from the remaining length (str2hashbuf_unsigned).
func str2hashbuf(msg []byte, out *[8]uint32) {
	n := uint32(len(msg))
	pad := n | n<<8
	pad |= pad << 16
	val := pad
	msg = msg[:min(len(msg), 32)]
	k := 0
	for i, c := range msg {
		val = uint32(c) + val<<8
		if i%4 == 3 {
			out[k] = val
			k++
			val = pad
		}
	}
	if k < 8 {
		out[k] = val
		k++
	}
	for ; k < 8; k++ {
		out[k] = pad
	}
}

func rol(x uint32, s uint) uint32 { return x<<s | x>>(32-s) }

// halfMD4 is the kernel's half_md4_transform.
func halfMD4(buf *[4]uint32, in *[8]uint32) {
	const k2, k3 = 0o13240474631, 0o15666365641
	f := func(x, y, z uint32) uint32 { return z ^ (x & (y ^ z)) }
	g := func(x, y, z uint32) uint32 { return (x & y) + ((x ^ y) & z) }
	h := func(x, y, z uint32) uint32 { return x ^ y ^ z }
	a, b, c, d := buf[0], buf[1], buf[2], buf[3]
	r := func(fn func(x, y, z uint32) uint32, a *uint32, b, c, d, x uint32, s uint) {
		*a = rol(*a+fn(b, c, d)+x, s)
	}
	r(f, &a, b, c, d, in[0], 3)
	r(f, &d, a, b, c, in[1], 7)
	r(f, &c, d, a, b, in[2], 11)
	r(f, &b, c, d, a, in[3], 19)
	r(f, &a, b, c, d, in[4], 3)
	r(f, &d, a, b, c, in[5], 7)
	r(f, &c, d, a, b, in[6], 11)
	r(f, &b, c, d, a, in[7], 19)

	r(g, &a, b, c, d, in[1]+k2, 3)
	r(g, &d, a, b, c, in[3]+k2, 5)
	r(g, &c, d, a, b, in[5]+k2, 9)
	r(g, &b, c, d, a, in[7]+k2, 13)
	r(g, &a, b, c, d, in[0]+k2, 3)
	r(g, &d, a, b, c, in[2]+k2, 5)
	r(g, &c, d, a, b, in[4]+k2, 9)
	r(g, &b, c, d, a, in[6]+k2, 13)

	r(h, &a, b, c, d, in[3]+k3, 3)
	r(h, &d, a, b, c, in[7]+k3, 9)
	r(h, &c, d, a, b, in[2]+k3, 11)
	r(h, &b, c, d, a, in[6]+k3, 15)
	r(h, &a, b, c, d, in[1]+k3, 3)
	r(h, &d, a, b, c, in[5]+k3, 9)
	r(h, &c, d, a, b, in[0]+k3, 11)
	r(h, &b, c, d, a, in[4]+k3, 15)

	buf[0] += a
	buf[1] += b
	buf[2] += c
	buf[3] += d
}

type hashedEntry struct {
	DirEntry
	hash, minor uint32
}

// htreeDirBlocks lays out an indexed directory with the given entries (no
// "." or ".."), all blocks sealed with checksums. ok is false when the
// directory needs more than two index levels.
func htreeDirBlocks(self, parent uint32, entries []DirEntry, hashSeed *[4]uint32, csumSeed uint32) (data []byte, ok bool) {
	le := binary.LittleEndian
	hs := make([]hashedEntry, len(entries))
	for i, e := range entries {
		h, m := dirHash(e.Name, hashSeed)
		hs[i] = hashedEntry{e, h, m}
	}
	slices.SortFunc(hs, func(a, b hashedEntry) int {
		if c := cmp.Compare(a.hash, b.hash); c != 0 {
			return c
		}
		if c := cmp.Compare(a.minor, b.minor); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	// Leaves: fill blocks in hash order.
	type leaf struct {
		start int    // first entry
		hash  uint32 // dx_entry hash (bit 0: continues a collision)
	}
	var leaves []leaf
	off := dirSpace
	for i, e := range hs {
		n := recLen(len(e.Name))
		if off+n > dirSpace {
			h := e.hash
			if i > 0 && hs[i-1].hash == e.hash {
				h |= 1
			}
			leaves = append(leaves, leaf{i, h})
			off = 0
		}
		off += n
	}
	levels := 0
	nodes := 0
	switch {
	case len(leaves) <= dxRootLimit:
	case len(leaves) <= dxRootLimit*dxNodeLimit:
		levels = 1
		nodes = (len(leaves) + dxNodeLimit - 1) / dxNodeLimit
	default:
		return nil, false
	}
	total := 1 + nodes + len(leaves)
	data = make([]byte, total*blockSize)
	firstLeaf := 1 + nodes
	for li, l := range leaves {
		end := len(hs)
		if li+1 < len(leaves) {
			end = leaves[li+1].start
		}
		ents := make([]DirEntry, 0, end-l.start)
		for _, e := range hs[l.start:end] {
			ents = append(ents, e.DirEntry)
		}
		b := data[(firstLeaf+li)*blockSize : (firstLeaf+li+1)*blockSize]
		copy(b, linearDirBlocks(ents, 1))
		sealDirBlock(b, csumSeed)
	}
	// putDx writes count entries (hash, block) at b[at:], the first one's
	// hash slot holding limit/count, and seals the block.
	putDx := func(b []byte, at, limit int, hashes []uint32, blocks []uint32) {
		le.PutUint16(b[at:], uint16(limit))
		le.PutUint16(b[at+2:], uint16(len(blocks)))
		for i := range blocks {
			if i > 0 {
				le.PutUint32(b[at+8*i:], hashes[i])
			}
			le.PutUint32(b[at+8*i+4:], blocks[i])
		}
		tail := at + limit*8
		le.PutUint32(b[tail:], 0)
		c := crc32c(csumSeed, b[:at+len(blocks)*8])
		c = crc32c(c, b[tail:tail+8])
		le.PutUint32(b[tail+4:], c)
	}
	root := data[:blockSize]
	le.PutUint32(root[0:], self)
	le.PutUint16(root[4:], 12)
	root[6], root[7] = 1, ondisk.FileTypeDir
	copy(root[8:], ".")
	le.PutUint32(root[12:], parent)
	le.PutUint16(root[16:], blockSize-12)
	root[18], root[19] = 2, ondisk.FileTypeDir
	copy(root[20:], "..")
	root[24+4] = ondisk.HashHalfMD4
	root[24+5] = 8 // info_length
	root[24+6] = uint8(levels)
	var rootHashes, rootBlocks []uint32
	if levels == 0 {
		for i, l := range leaves {
			rootHashes = append(rootHashes, l.hash)
			rootBlocks = append(rootBlocks, uint32(firstLeaf+i))
		}
	} else {
		for n := 0; n < nodes; n++ {
			part := leaves[n*dxNodeLimit : min((n+1)*dxNodeLimit, len(leaves))]
			var hashes, blocks []uint32
			for i, l := range part {
				hashes = append(hashes, l.hash)
				blocks = append(blocks, uint32(firstLeaf+n*dxNodeLimit+i))
			}
			b := data[(1+n)*blockSize : (2+n)*blockSize]
			le.PutUint16(b[4:], blockSize) // fake empty dirent covering the block
			putDx(b, 8, dxNodeLimit, hashes, blocks)
			rootHashes = append(rootHashes, part[0].hash)
			rootBlocks = append(rootBlocks, uint32(1+n))
		}
	}
	putDx(root, 32, dxRootLimit, rootHashes, rootBlocks)
	return data, true
}
