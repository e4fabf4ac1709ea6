package ext4

import (
	"archive/tar"
	"fmt"
	"strings"
	"testing"
)

func TestJournal(t *testing.T) {
	tarball := mkTar(t, []ent{{name: "f", typ: tar.TypeReg, data: "data"}})
	// 16 MiB: 1024-block journal (one extent); 1.5 GiB: 8192 blocks;
	// 130 GiB: 262144 blocks, more extents than the inode holds.
	for _, tt := range []struct {
		size   int64
		blocks int
	}{{16 << 20, 1024}, {1536 << 20, 8192}, {130 << 30, 262144}} {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			img := mustBuild(t, tarball, Options{Size: tt.size, Journal: true})
			h := dumpe2fs(t, img)
			for _, want := range []string{"has_journal", fmt.Sprintf("Total journal blocks:     %d\n", tt.blocks), "Journal start:            0"} {
				if !strings.Contains(h, want) {
					t.Errorf("dumpe2fs -h: missing %q\n%s", want, h)
				}
			}
			if c := debugfs(t, img, "cat /f"); c != "data" {
				t.Errorf("cat /f = %q", c)
			}
		})
	}
	if _, err := build(t, tarball, Options{Size: 4 << 20, Journal: true}); err != nil {
		t.Errorf("a filesystem too small for a journal is built without one: %v", err)
	}
}
