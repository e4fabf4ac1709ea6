package lvm

import (
	"encoding/binary"
	"hash/crc32"
)

// On-disk constants of the LVM2 text format (lvm2 lib/label and
// lib/format_text). All integers are little endian.
const (
	sectorSize = 512

	labelSector   = 1          // sector holding the label
	labelID       = "LABELONE" // label_header.id
	labelType     = "LVM2 001" // label_header.type
	labelHdrSize  = 32         // label_header size; pv_header follows
	labelCRCStart = 20         // the label CRC covers offset_xl to the end of the sector

	mdaMagic    = "\x20LVM2 x[5A%r0N*>" // mda_header.magic
	mdaVersion  = 1                     // mda_header.version
	mdaOffset   = 4096                  // where the metadata area starts
	mdaHdrSize  = 512                   // mda_header size; the ring buffer follows
	mdaCRCStart = 4                     // the mda CRC covers everything after checksum_xl

	peStart = 1 << 20 // first physical extent (lvm2 default alignment)

	pvExtVersion = 2   // pv_header_extension.version
	pvExtUsed    = 0x1 // pv_header_extension.flags: PV belongs to a VG

	crcInitial = 0xf597a6cf // lvm's CRC seed
)

// crc is lvm's checksum: the reflected CRC-32 (IEEE polynomial) with the
// seed crcInitial and no final inversion. hash/crc32 inverts on entry and
// exit, so invert around it.
func crc(b []byte) uint32 {
	return ^crc32.Update(^uint32(crcInitial), crc32.IEEETable, b)
}

// diskLocn is a disk_locn: an (offset, size) pair in bytes.
type diskLocn struct{ offset, size uint64 }

// labelSectorBytes encodes sector 1: label_header, pv_header with one data
// area (from pe_start to the end, size 0) and one metadata area, and the
// pv_header_extension with an empty bootloader area list.
func labelSectorBytes(pvUUID string, devSize uint64, data, mda diskLocn) []byte {
	b := make([]byte, sectorSize)
	copy(b[0:8], labelID)
	binary.LittleEndian.PutUint64(b[8:16], labelSector)
	binary.LittleEndian.PutUint32(b[20:24], labelHdrSize)
	copy(b[24:32], labelType)
	p := b[labelHdrSize:]
	copy(p[0:32], bareUUID(pvUUID))
	binary.LittleEndian.PutUint64(p[32:40], devSize)
	off := 40
	put := func(l diskLocn) {
		binary.LittleEndian.PutUint64(p[off:], l.offset)
		binary.LittleEndian.PutUint64(p[off+8:], l.size)
		off += 16
	}
	put(data)
	put(diskLocn{}) // end of data areas
	put(mda)
	put(diskLocn{}) // end of metadata areas
	binary.LittleEndian.PutUint32(p[off:], pvExtVersion)
	binary.LittleEndian.PutUint32(p[off+4:], pvExtUsed)
	off += 8
	put(diskLocn{}) // end of bootloader areas
	binary.LittleEndian.PutUint32(b[16:20], crc(b[labelCRCStart:]))
	return b
}

// mdaHeaderBytes encodes the mda_header of a metadata area starting at
// start with size bytes, whose committed metadata text lies at textOff
// (relative to start) with textLen bytes and checksum textCRC.
func mdaHeaderBytes(start, size, textOff, textLen uint64, textCRC uint32) []byte {
	b := make([]byte, mdaHdrSize)
	copy(b[4:20], mdaMagic)
	binary.LittleEndian.PutUint32(b[20:24], mdaVersion)
	binary.LittleEndian.PutUint64(b[24:32], start)
	binary.LittleEndian.PutUint64(b[32:40], size)
	// raw_locn[0]: committed metadata; raw_locn[1] (zero) ends the list.
	binary.LittleEndian.PutUint64(b[40:48], textOff)
	binary.LittleEndian.PutUint64(b[48:56], textLen)
	binary.LittleEndian.PutUint32(b[56:60], textCRC)
	binary.LittleEndian.PutUint32(b[0:4], crc(b[mdaCRCStart:]))
	return b
}
