package imgdiff

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/imgdiff/internal/testimg"
)

// BenchmarkDiffSparseDisk compares two 16 GiB sparse disks whose 12 GiB ext4
// partitions differ in one file: the cost is dominated by the holes, which
// both sides share and which are skipped.
func BenchmarkDiffSparseDisk(b *testing.B) {
	f := &fixtures{dir: b.TempDir()}
	tree := filepath.Join(f.dir, "tree")
	for _, n := range []string{"a", "b", "c"} {
		testimg.WriteFile(b, filepath.Join(tree, "dir", n), make([]byte, 1<<20+1))
	}
	os.Chtimes(filepath.Join(tree, "dir"), time.Unix(0, 0), time.Unix(0, 0))
	root := filepath.Join(f.dir, "root.img")
	if err := os.WriteFile(root, nil, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.Truncate(root, 12<<30); err != nil {
		b.Fatal(err)
	}
	testimg.Mkfs(b, root, tree, "12G")
	csv := "root, 1M, 12G, L, 6788E4CF-F456-104E-9A34-A2C58CFB0EE6\n"
	a := f.diskTB(b, "a.img", csv, map[string]string{"root": root})
	testimg.Debugfs(b, root, true, "sif /dir/b uid 5")
	c := f.diskTB(b, "b.img", csv, map[string]string{"root": root})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		res, err := Diff(a, c, Options{})
		if err != nil || res.Identical {
			b.Fatal(err, res)
		}
	}
}
