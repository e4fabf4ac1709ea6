package ext4

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"

	"github.com/icos-build/icos/tools/ext4/ondisk"
)

// Xattr is one extended attribute, its name split into the ext4 name index
// and the rest of the name.
type Xattr struct {
	Index uint8
	Name  string
	Value []byte
}

var xattrPrefixes = []struct {
	prefix string
	index  uint8
}{
	{"user.", 1},
	{"trusted.", 4},
	{"security.", 6},
}

// ParseXattr maps a full attribute name ("security.selinux") and value to
// its on-disk form. POSIX ACLs are converted from the VFS xattr format used
// in tar PAX records to ext4's compact on-disk ACL format.
func ParseXattr(name string, value []byte) (Xattr, error) {
	switch name {
	case "system.posix_acl_access", "system.posix_acl_default":
		idx := uint8(2)
		if name == "system.posix_acl_default" {
			idx = 3
		}
		v, err := aclToDisk(value)
		if err != nil {
			return Xattr{}, fmt.Errorf("xattr %s: %w", name, err)
		}
		return Xattr{Index: idx, Value: v}, nil
	}
	for _, p := range xattrPrefixes {
		if rest, ok := strings.CutPrefix(name, p.prefix); ok {
			if rest == "" || len(rest) > 255 {
				return Xattr{}, fmt.Errorf("xattr %q: bad name length", name)
			}
			return Xattr{Index: p.index, Name: rest, Value: value}, nil
		}
	}
	return Xattr{}, fmt.Errorf("xattr %q: unsupported namespace (want user., trusted., security. or a POSIX ACL)", name)
}

// aclToDisk converts a POSIX ACL from the xattr format (version 2, 8-byte
// entries) to ext4's on-disk format (version 1, 4-byte entries for the
// owner/group/mask/other tags, 8 bytes for named users and groups).
func aclToDisk(v []byte) ([]byte, error) {
	le := binary.LittleEndian
	if len(v) < 4 || (len(v)-4)%8 != 0 || le.Uint32(v) != 2 {
		return nil, fmt.Errorf("malformed POSIX ACL")
	}
	out := le.AppendUint32(nil, 1)
	for p := v[4:]; len(p) > 0; p = p[8:] {
		tag, perm, id := le.Uint16(p), le.Uint16(p[2:]), le.Uint32(p[4:])
		out = le.AppendUint16(out, tag)
		out = le.AppendUint16(out, perm)
		switch tag {
		case 0x01, 0x04, 0x10, 0x20: // USER_OBJ, GROUP_OBJ, MASK, OTHER
		case 0x02, 0x08: // USER, GROUP
			out = le.AppendUint32(out, id)
		default:
			return nil, fmt.Errorf("malformed POSIX ACL: tag %#x", tag)
		}
	}
	return out, nil
}

func sortXattrs(x []Xattr) {
	// The kernel keeps EA block entries sorted by index, name length, name.
	slices.SortFunc(x, func(a, b Xattr) int {
		if c := cmp.Compare(a.Index, b.Index); c != 0 {
			return c
		}
		if c := cmp.Compare(len(a.Name), len(b.Name)); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}

func entrySize(x Xattr) int { return (ondisk.XattrEntryLen + len(x.Name) + 3) &^ 3 }
func valueSize(x Xattr) int { return (len(x.Value) + 3) &^ 3 }

// xattrHash is ext4_xattr_hash_entry: name bytes then value words.
func xattrHash(x Xattr) uint32 {
	var h uint32
	for i := 0; i < len(x.Name); i++ {
		h = h<<5 ^ h>>27 ^ uint32(x.Name[i])
	}
	padded := make([]byte, valueSize(x))
	copy(padded, x.Value)
	for i := 0; i < len(padded); i += 4 {
		h = h<<16 ^ h>>16 ^ binary.LittleEndian.Uint32(padded[i:])
	}
	return h
}

// splitXattrs decides which attributes live in the inode (space bytes after
// i_extra_isize) and which go to an EA block, filling the inode first in
// sorted order.
func splitXattrs(x []Xattr, space int) (inInode, inBlock []Xattr, err error) {
	sortXattrs(x)
	used := 4 + 4 // magic + end marker
	for i, a := range x {
		n := entrySize(a) + valueSize(a)
		if used+n > space || len(inBlock) > 0 {
			inBlock = append(inBlock, x[i])
			continue
		}
		used += n
		inInode = append(inInode, a)
	}
	blockUsed := ondisk.XattrHeaderLen + 4
	for _, a := range inBlock {
		blockUsed += entrySize(a) + valueSize(a)
	}
	if len(inBlock) > 0 && blockUsed > blockSize {
		return nil, nil, fmt.Errorf("extended attributes need %d bytes, more than one %d-byte block", blockUsed, blockSize)
	}
	return inInode, inBlock, nil
}

// encodeEntries writes entries at b[0:] and values downward from the end of
// b; value offsets are relative to base (0 for in-inode, where offsets count
// from the first entry; the block start for EA blocks).
func encodeEntries(b []byte, x []Xattr, base int) {
	le := binary.LittleEndian
	off, vend := 0, len(b)
	for _, a := range x {
		vs := valueSize(a)
		vend -= vs
		copy(b[vend:], a.Value)
		e := b[off:]
		e[0] = uint8(len(a.Name))
		e[1] = a.Index
		le.PutUint16(e[2:], uint16(vend+base))
		le.PutUint32(e[4:], 0)
		le.PutUint32(e[8:], uint32(len(a.Value)))
		le.PutUint32(e[12:], xattrHash(a))
		copy(e[16:], a.Name)
		off += entrySize(a)
	}
}

// inodeXattrs encodes the in-inode attribute area of the given size
// (inode size - 128 - extra_isize), nil when there are no attributes.
func inodeXattrs(x []Xattr, size int) []byte {
	if len(x) == 0 {
		return nil
	}
	b := make([]byte, size)
	binary.LittleEndian.PutUint32(b, ondisk.XattrMagic)
	encodeEntries(b[4:], x, 0)
	return b
}

// xattrBlock encodes an EA block stored at physical block blk.
func xattrBlock(x []Xattr, blk uint32, csumSeed uint32) []byte {
	le := binary.LittleEndian
	b := make([]byte, blockSize)
	le.PutUint32(b[0x00:], ondisk.XattrMagic)
	le.PutUint32(b[0x04:], 1) // h_refcount
	le.PutUint32(b[0x08:], 1) // h_blocks
	encodeEntries(b[ondisk.XattrHeaderLen:], x, ondisk.XattrHeaderLen)
	var h uint32
	for _, a := range x {
		h = h<<16 ^ h>>16 ^ xattrHash(a)
	}
	le.PutUint32(b[0x0C:], h)
	var nr [8]byte
	le.PutUint64(nr[:], uint64(blk))
	c := crc32c(csumSeed, nr[:])
	le.PutUint32(b[0x10:], crc32c(c, b))
	return b
}
