package ext4

import "encoding/binary"

// Timespec is a timestamp with nanoseconds, as ext4 stores it with
// extra_isize: 32 low bits in the base field, 2 epoch bits and 30 bits of
// nanoseconds in the _extra field.
type Timespec struct {
	Sec  int64
	Nsec uint32
}

func (t Timespec) encode() (lo, extra uint32) {
	lo = uint32(int32(t.Sec))
	epoch := uint32((t.Sec-int64(int32(t.Sec)))>>32) & 3
	return lo, epoch | t.Nsec<<2
}

// Inode is the on-disk inode (the fields this writer sets).
type Inode struct {
	Mode        uint16
	UID, GID    uint32
	Size        uint64
	Atime       Timespec
	Ctime       Timespec
	ModTime     Timespec
	Crtime      Timespec
	LinksCount  uint16
	Blocks      uint64 // in 512-byte sectors
	Flags       uint32
	Block       [60]byte // i_block: extent root, fast symlink target or device number
	FileACL     uint32   // extended attribute block
	InlineXattr []byte   // in-inode xattr area, after i_extra_isize (starts with the magic)
}

// marshal encodes inode number ino into b (inodeSize bytes, pre-zeroed),
// including the metadata_csum checksum.
func (n *Inode) marshal(b []byte, csumSeed, ino uint32) {
	le := binary.LittleEndian
	le.PutUint16(b[0x00:], n.Mode)
	le.PutUint16(b[0x02:], uint16(n.UID))
	le.PutUint32(b[0x04:], uint32(n.Size))
	at, atx := n.Atime.encode()
	ct, ctx := n.Ctime.encode()
	mt, mtx := n.ModTime.encode()
	crt, crtx := n.Crtime.encode()
	le.PutUint32(b[0x08:], at)
	le.PutUint32(b[0x0C:], ct)
	le.PutUint32(b[0x10:], mt)
	le.PutUint16(b[0x18:], uint16(n.GID))
	le.PutUint16(b[0x1A:], n.LinksCount)
	le.PutUint32(b[0x1C:], uint32(n.Blocks))
	le.PutUint32(b[0x20:], n.Flags)
	copy(b[0x28:0x64], n.Block[:])
	le.PutUint32(b[0x64:], 0) // i_generation
	le.PutUint32(b[0x68:], n.FileACL)
	le.PutUint32(b[0x6C:], uint32(n.Size>>32))
	le.PutUint16(b[0x74:], uint16(n.Blocks>>32))
	le.PutUint16(b[0x78:], uint16(n.UID>>16))
	le.PutUint16(b[0x7A:], uint16(n.GID>>16))
	le.PutUint16(b[0x80:], extraIsize)
	le.PutUint32(b[0x84:], ctx)
	le.PutUint32(b[0x88:], mtx)
	le.PutUint32(b[0x8C:], atx)
	le.PutUint32(b[0x90:], crt)
	le.PutUint32(b[0x94:], crtx)
	copy(b[128+extraIsize:], n.InlineXattr)
	// Checksum over the whole inode with i_checksum_lo/hi zero, seeded
	// with crc32c(fs seed, le32 ino, le32 generation).
	le.PutUint16(b[0x7C:], 0)
	le.PutUint16(b[0x82:], 0)
	c := crc32c(inodeSeed(csumSeed, ino), b)
	le.PutUint16(b[0x7C:], uint16(c))
	le.PutUint16(b[0x82:], uint16(c>>16))
}

// inodeSeed is the per-inode checksum seed (generation is always 0 here).
func inodeSeed(csumSeed, ino uint32) uint32 {
	return crc32c(crc32c(csumSeed, le32(ino)), le32(0))
}

// encodeDev stores a device number in i_block the way the kernel does:
// the old 16-bit encoding in i_block[0] when it fits, else the new 32-bit
// encoding in i_block[1].
func encodeDev(block *[60]byte, major, minor uint32) {
	le := binary.LittleEndian
	if major < 256 && minor < 256 {
		le.PutUint32(block[0:], major<<8|minor)
		return
	}
	le.PutUint32(block[4:], (minor&0xff)|(major&0xfff)<<8|(minor&^0xff)<<12)
}
