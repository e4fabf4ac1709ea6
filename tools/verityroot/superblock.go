package verityroot

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// The format tools/verity writes, the only one accepted. This package
// reads it without importing tools/verity (the writer pulls in the
// image tools; icos-node stays small): the tests check the two agree.
const (
	blockSize   = 4096
	hashType    = 1
	algorithm   = "sha256"
	digestSize  = 32
	maxSaltSize = 256
	// SuperblockSize is the size of the verity superblock's fields at the
	// start of the hash area (its hash block is zero after them).
	SuperblockSize = 512
)

// Superblock is a decoded dm-verity superblock (as veritysetup writes it).
type Superblock struct {
	Version       uint32 // superblock version: 1
	HashType      uint32 // hash format type
	UUID          [16]byte
	Algorithm     string // e.g. "sha256"
	DataBlockSize uint32
	HashBlockSize uint32
	DataBlocks    uint64
	Salt          []byte
}

// ParseSuperblock decodes the superblock at the start of b (at least
// SuperblockSize bytes). It checks the magic, the version and that the
// fields are self-consistent (salt size, block sizes powers of two from
// 512 to 1 MiB, a NUL-terminated algorithm name); Run also requires the
// format tools/verity writes.
func ParseSuperblock(b []byte) (Superblock, error) {
	sb, err := parseSuperblock(b)
	if err != nil {
		return Superblock{}, fmt.Errorf("verityroot: %w", err)
	}
	return sb, nil
}

// parseSuperblock is ParseSuperblock with errors not prefixed.
func parseSuperblock(b []byte) (Superblock, error) {
	if len(b) < SuperblockSize {
		return Superblock{}, fmt.Errorf("superblock of %d bytes, want %d", len(b), SuperblockSize)
	}
	if string(b[0:8]) != "verity\x00\x00" {
		return Superblock{}, fmt.Errorf("no verity superblock (magic %q)", b[0:8])
	}
	le := binary.LittleEndian
	sb := Superblock{
		Version:       le.Uint32(b[8:]),
		HashType:      le.Uint32(b[12:]),
		DataBlockSize: le.Uint32(b[64:]),
		HashBlockSize: le.Uint32(b[68:]),
		DataBlocks:    le.Uint64(b[72:]),
	}
	copy(sb.UUID[:], b[16:32])
	if sb.Version != 1 {
		return Superblock{}, fmt.Errorf("superblock version %d, want 1", sb.Version)
	}
	alg, _, ok := bytes.Cut(b[32:64], []byte{0})
	if !ok || len(alg) == 0 {
		return Superblock{}, fmt.Errorf("superblock algorithm %q not a NUL-terminated name", b[32:64])
	}
	sb.Algorithm = string(alg)
	for _, bs := range []uint32{sb.DataBlockSize, sb.HashBlockSize} {
		if bs < 512 || bs > 1<<20 || bs&(bs-1) != 0 {
			return Superblock{}, fmt.Errorf("superblock block size %d not a power of two from 512 to 1 MiB", bs)
		}
	}
	saltSize := int(le.Uint16(b[80:]))
	if saltSize > maxSaltSize {
		return Superblock{}, fmt.Errorf("superblock salt size %d, more than %d", saltSize, maxSaltSize)
	}
	sb.Salt = append([]byte(nil), b[88:88+saltSize]...)
	return sb, nil
}

// hashAreaSize returns the bytes of the hash area (superblock block and
// tree) of dataBlocks 4096-byte blocks hashed with sha256 into 4096-byte
// blocks: each tree level has one digest per block of the level below,
// up to a level of one block (none for a single data block).
func hashAreaSize(dataBlocks int64) int64 {
	const perBlock = blockSize / digestSize
	blocks := int64(1) // the superblock's
	for n := dataBlocks; n > 1; {
		n = (n + perBlock - 1) / perBlock
		blocks += n
	}
	return blocks * blockSize
}
