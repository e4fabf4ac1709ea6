package vfat

import (
	"encoding/binary"
	"time"
	"unicode/utf16"
)

// Directory entry attributes (fatgen103, "FAT Directory Structure").
const (
	attrReadOnly = 0x01
	attrVolumeID = 0x08
	attrDir      = 0x10
	attrArchive  = 0x20
	attrLFN      = 0x0F // READ_ONLY|HIDDEN|SYSTEM|VOLUME_ID marks a long-name slot

	// Case flags in the reserved byte (DIR_NTRes), as written by Windows NT
	// and Linux: the base name / extension is displayed in lower case.
	caseLowerBase = 0x08
	caseLowerExt  = 0x10

	direntSize  = 32
	lfnChars    = 13 // UTF-16 code units per long-name slot
	maxLFNUnits = 255
	lfnLast     = 0x40 // flag on the order byte of the last (first stored) slot
)

// DOS timestamps cover 1980-01-01 00:00:00 to 2107-12-31 23:59:58 local
// time with 2-second resolution; we store UTC wall-clock time.
var (
	dosEpoch = time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	dosEnd   = time.Date(2107, 12, 31, 23, 59, 58, 0, time.UTC)
)

// dosTime is an encoded timestamp.
type dosTime struct {
	date, time uint16
	tenths     uint8 // 0..199: the odd second of the creation time, in 10 ms units
}

// encodeTime converts Unix seconds to a DOS timestamp, clamping to the
// representable range.
func encodeTime(unix int64) dosTime {
	t := time.Unix(unix, 0).UTC()
	if t.Before(dosEpoch) {
		t = dosEpoch
	}
	if t.After(dosEnd) {
		t = dosEnd
	}
	return dosTime{
		date:   uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day()),
		time:   uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2),
		tenths: uint8(t.Second()%2) * 100,
	}
}

// dirent is one 32-byte short directory entry.
type dirent struct {
	name    [11]byte // 8.3 name, space padded, without the dot
	attr    uint8
	ntres   uint8 // case flags
	cluster uint32
	size    uint32
}

// marshal encodes e with every timestamp set to ts.
func (e *dirent) marshal(b []byte, ts dosTime) {
	copy(b[0:11], e.name[:])
	b[11] = e.attr
	b[12] = e.ntres
	b[13] = ts.tenths
	binary.LittleEndian.PutUint16(b[14:], ts.time) // creation
	binary.LittleEndian.PutUint16(b[16:], ts.date)
	binary.LittleEndian.PutUint16(b[18:], ts.date) // last access
	binary.LittleEndian.PutUint16(b[20:], uint16(e.cluster>>16))
	binary.LittleEndian.PutUint16(b[22:], ts.time) // last write
	binary.LittleEndian.PutUint16(b[24:], ts.date)
	binary.LittleEndian.PutUint16(b[26:], uint16(e.cluster))
	binary.LittleEndian.PutUint32(b[28:], e.size)
}

// checksum is the short-name checksum stored in every long-name slot: the
// 11 name bytes summed with a right rotation of the running sum before each
// addition.
func checksum(name [11]byte) uint8 {
	var s uint8
	for _, c := range name {
		s = (s>>1 | s<<7) + c
	}
	return s
}

// lfnUnits returns the UTF-16 encoding of a long name.
func lfnUnits(name string) []uint16 { return utf16.Encode([]rune(name)) }

// lfnSlots returns how many long-name slots a name of n UTF-16 units needs.
func lfnSlots(n int) int { return (n + lfnChars - 1) / lfnChars }

// marshalLFN encodes the long-name slots for units, in on-disk order (last
// part first), into b, which must hold lfnSlots(len(units))*32 bytes.
func marshalLFN(b []byte, units []uint16, sum uint8) {
	n := lfnSlots(len(units))
	// Offsets of the 13 characters inside a slot.
	offs := [lfnChars]int{1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30}
	for i := 0; i < n; i++ {
		ord := n - i // slots are stored from the last part to the first
		s := b[i*direntSize : (i+1)*direntSize]
		s[0] = uint8(ord)
		if i == 0 {
			s[0] |= lfnLast
		}
		s[11] = attrLFN
		s[12] = 0
		s[13] = sum
		s[26], s[27] = 0, 0
		for k := 0; k < lfnChars; k++ {
			j := (ord-1)*lfnChars + k
			var u uint16
			switch {
			case j < len(units):
				u = units[j]
			case j == len(units):
				u = 0 // terminator, when the name does not fill the slot
			default:
				u = 0xFFFF // padding after the terminator
			}
			binary.LittleEndian.PutUint16(s[offs[k]:], u)
		}
	}
}
