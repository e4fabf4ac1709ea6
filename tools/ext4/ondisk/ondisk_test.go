package ondisk

import (
	"syscall"
	"testing"
)

// The mode type bits are st_mode's; Linux defines them for every
// architecture alike.
func TestModeBitsMatchStMode(t *testing.T) {
	for _, c := range []struct {
		name      string
		ours, sys uint32
	}{
		{"type mask", ModeType, syscall.S_IFMT},
		{"socket", ModeSocket, syscall.S_IFSOCK},
		{"symlink", ModeSymlink, syscall.S_IFLNK},
		{"regular", ModeRegular, syscall.S_IFREG},
		{"block", ModeBlock, syscall.S_IFBLK},
		{"directory", ModeDir, syscall.S_IFDIR},
		{"character", ModeChar, syscall.S_IFCHR},
		{"fifo", ModeFIFO, syscall.S_IFIFO},
	} {
		if c.ours != c.sys {
			t.Errorf("%s: %#o, st_mode has %#o", c.name, c.ours, c.sys)
		}
		if c.ours&^ModeType != 0 {
			t.Errorf("%s: %#o has bits outside the type mask", c.name, c.ours)
		}
	}
}

// The directory entry file types are distinct values in 1..7 (0 means
// unknown).
func TestFileTypesDistinct(t *testing.T) {
	seen := map[int]string{}
	for name, v := range map[string]int{
		"regular": FileTypeRegular, "dir": FileTypeDir, "char": FileTypeChar, "block": FileTypeBlock,
		"fifo": FileTypeFIFO, "socket": FileTypeSocket, "symlink": FileTypeSymlink,
	} {
		if v < 1 || v > 7 {
			t.Errorf("%s: %d outside 1..7", name, v)
		}
		if other, ok := seen[v]; ok {
			t.Errorf("%s and %s share the value %d", name, other, v)
		}
		seen[v] = name
	}
}
