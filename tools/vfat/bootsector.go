package vfat

import "encoding/binary"

// Boot sector, BPB and FSInfo encoders (fatgen103, "Boot Sector and BPB",
// "FAT32 FSInfo Sector Structure and Backup Boot Sector").

const (
	fsinfoSector = 1 // FAT32: FSInfo sector number (BPB_FSInfo)
	backupSector = 6 // FAT32: backup boot sector (BPB_BkBootSec), FSInfo copy follows

	fsinfoLeadSig  = 0x41615252
	fsinfoStrucSig = 0x61417272
	fsinfoTrailSig = 0xAA550000
	extBootSig     = 0x29
	driveNumber    = 0x80
	oemName        = "MSWIN4.1" // the name fatgen103 recommends for compatibility
)

// bootCode is what runs if a BIOS boots the volume: INT 18h (boot failure,
// try the next device), then halt forever.
var bootCode = []byte{0xCD, 0x18, 0xF4, 0xEB, 0xFD}

// bootSector encodes the boot sector of a volume with geometry g; rootCluster
// is used on FAT32 only.
func bootSector(g Geometry, serial uint32, label [11]byte, rootCluster uint32) []byte {
	b := make([]byte, sectorSize)
	le := binary.LittleEndian
	codeAt := 0x3E // after the FAT12/16 extended BPB
	if g.Type == FAT32 {
		codeAt = 0x5A
	}
	b[0], b[1], b[2] = 0xEB, byte(codeAt-2), 0x90 // JMP short to the code, NOP
	copy(b[3:11], oemName)
	le.PutUint16(b[11:], sectorSize)
	b[13] = byte(g.SectorsPerCluster)
	le.PutUint16(b[14:], uint16(g.ReservedSectors))
	b[16] = numFATs
	le.PutUint16(b[17:], uint16(g.RootEntries))
	if g.Type != FAT32 && g.TotalSectors < 0x10000 {
		le.PutUint16(b[19:], uint16(g.TotalSectors))
	} else {
		le.PutUint32(b[32:], g.TotalSectors)
	}
	b[21] = mediaFixed
	if g.Type != FAT32 {
		le.PutUint16(b[22:], uint16(g.FATSectors))
	}
	le.PutUint16(b[24:], g.SectorsPerTrack)
	le.PutUint16(b[26:], g.Heads)
	le.PutUint32(b[28:], 0) // hidden sectors: the volume does not know where it is placed
	ext := b[36:]
	fsType := "FAT12   "
	switch g.Type {
	case FAT16:
		fsType = "FAT16   "
	case FAT32:
		le.PutUint32(b[36:], g.FATSectors)
		le.PutUint16(b[40:], 0) // ExtFlags: FATs mirrored
		le.PutUint16(b[42:], 0) // version 0.0
		le.PutUint32(b[44:], rootCluster)
		le.PutUint16(b[48:], fsinfoSector)
		le.PutUint16(b[50:], backupSector)
		ext = b[64:]
		fsType = "FAT32   "
	}
	ext[0] = driveNumber
	ext[1] = 0 // reserved (Linux keeps the dirty flag here: clean)
	ext[2] = extBootSig
	le.PutUint32(ext[3:], serial)
	copy(ext[7:18], label[:])
	copy(ext[18:26], fsType)
	copy(b[codeAt:], bootCode)
	b[510], b[511] = 0x55, 0xAA
	return b
}

// fsinfo encodes the FAT32 FSInfo sector.
func fsinfo(free, nextFree uint32) []byte {
	b := make([]byte, sectorSize)
	le := binary.LittleEndian
	le.PutUint32(b[0:], fsinfoLeadSig)
	le.PutUint32(b[484:], fsinfoStrucSig)
	le.PutUint32(b[488:], free)
	le.PutUint32(b[492:], nextFree)
	le.PutUint32(b[508:], fsinfoTrailSig)
	return b
}
