package ext4

import (
	"encoding/binary"
	"hash/crc32"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// Geometry this writer chooses; the format's own constants are in package
// ondisk.
const (
	blockSize        = 4096
	blocksPerGroup   = 8 * blockSize // one block bitmap block per group
	extraIsize       = 32            // i_extra_isize: covers up to i_projid
	logGroupsPerFlex = 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// crc32c is the kernel's raw crc32c_le(seed, p): no inversion on input or
// output, which is how every ext4 metadata checksum is chained.
func crc32c(seed uint32, p []byte) uint32 {
	return ^crc32.Update(^seed, castagnoli, p)
}

func le32(v uint32) []byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	return b[:]
}

// Superblock holds the fields of the ext4 superblock this writer sets;
// everything else is zero on disk.
type Superblock struct {
	InodesCount     uint32
	BlocksCount     uint32
	FreeBlocksCount uint32
	FreeInodesCount uint32
	InodesPerGroup  uint32
	Time            uint32     // mkfs_time, wtime and lastcheck
	BlockGroupNr    uint16     // group holding this copy (0 for the primary)
	JournalInum     uint32     // 8 with a journal
	JournalBlocks   [17]uint32 // s_jnl_blocks: journal i_block, size high, size low
	InodeSize       uint16
	FeatureCompat   uint32
	FeatureIncompat uint32
	FeatureRoCompat uint32
	UUID            [16]byte
	VolumeName      [16]byte
	HashSeed        [16]byte
}

// MarshalBinary encodes the 1024-byte superblock, checksum included.
func (s *Superblock) MarshalBinary() ([]byte, error) {
	b := make([]byte, 1024)
	le := binary.LittleEndian
	le.PutUint32(b[0x00:], s.InodesCount)
	le.PutUint32(b[0x04:], s.BlocksCount)
	le.PutUint32(b[0x08:], 0) // no reserved blocks: read-only roots need none
	le.PutUint32(b[0x0C:], s.FreeBlocksCount)
	le.PutUint32(b[0x10:], s.FreeInodesCount)
	le.PutUint32(b[0x14:], 0) // s_first_data_block is 0 with 4 KiB blocks
	le.PutUint32(b[0x18:], 2) // log2(block size) - 10
	le.PutUint32(b[0x1C:], 2) // cluster size = block size
	le.PutUint32(b[0x20:], blocksPerGroup)
	le.PutUint32(b[0x24:], blocksPerGroup)
	le.PutUint32(b[0x28:], s.InodesPerGroup)
	le.PutUint32(b[0x2C:], 0) // s_mtime: never mounted
	le.PutUint32(b[0x30:], s.Time)
	le.PutUint16(b[0x34:], 0)      // s_mnt_count
	le.PutUint16(b[0x36:], 0xFFFF) // s_max_mnt_count = -1: no mount-count checks
	le.PutUint16(b[0x38:], ondisk.Magic)
	le.PutUint16(b[0x3A:], 1) // s_state: cleanly unmounted
	le.PutUint16(b[0x3C:], 1) // s_errors: continue
	le.PutUint32(b[0x40:], s.Time)
	le.PutUint32(b[0x44:], 0) // s_checkinterval
	le.PutUint32(b[0x48:], 0) // s_creator_os: Linux
	le.PutUint32(b[0x4C:], 1) // s_rev_level: dynamic
	le.PutUint32(b[0x54:], ondisk.GoodOldFirstIno)
	le.PutUint16(b[0x58:], s.InodeSize)
	le.PutUint16(b[0x5A:], s.BlockGroupNr)
	le.PutUint32(b[0x5C:], s.FeatureCompat)
	le.PutUint32(b[0x60:], s.FeatureIncompat)
	le.PutUint32(b[0x64:], s.FeatureRoCompat)
	copy(b[0x68:0x78], s.UUID[:])
	copy(b[0x78:0x88], s.VolumeName[:])
	copy(b[0xEC:0xFC], s.HashSeed[:])
	b[0xFC] = ondisk.HashHalfMD4
	le.PutUint32(b[0xE0:], s.JournalInum)
	if s.JournalInum != 0 {
		b[0xFD] = ondisk.JnlBackupBlocks
		for i, v := range s.JournalBlocks {
			le.PutUint32(b[0x10C+4*i:], v)
		}
	}
	le.PutUint32(b[0x100:], ondisk.DefmXattrUser|ondisk.DefmACL)
	le.PutUint32(b[0x108:], s.Time)
	le.PutUint16(b[0x15C:], extraIsize) // s_min_extra_isize
	le.PutUint16(b[0x15E:], extraIsize) // s_want_extra_isize
	le.PutUint32(b[0x160:], ondisk.FlagsUnsignedHash)
	b[0x174] = logGroupsPerFlex
	b[0x175] = 1 // s_checksum_type: crc32c
	le.PutUint32(b[0x3FC:], crc32c(^uint32(0), b[:0x3FC]))
	return b, nil
}
