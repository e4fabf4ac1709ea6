package vfat

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestPlanMatchesMkfs checks that the default FAT type and cluster size are
// those mkfs.fat picks for the same size.
func TestPlanMatchesMkfs(t *testing.T) {
	re := regexp.MustCompile(`filesystem has 2 (\d+)-bit FATs and (\d+) sectors? per cluster`)
	dir := t.TempDir()
	for _, mib := range []int64{1, 3, 4, 6, 8, 9, 16, 32, 64, 100, 128, 129, 200, 256, 257, 300, 511, 512, 1024, 2048} {
		size := mib << 20
		g, err := Plan(Options{Size: size})
		if err != nil {
			t.Fatalf("%d MiB: %v", mib, err)
		}
		img := filepath.Join(dir, "mkfs.img")
		os.Remove(img)
		out, rc := run(t, "mkfs.fat", "dosfstools", "-v", "-C", img, strconv.FormatInt(size/1024, 10))
		if rc != 0 {
			t.Fatalf("mkfs.fat %d MiB: exit %d\n%s", mib, rc, out)
		}
		m := re.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("mkfs.fat %d MiB: no geometry in\n%s", mib, out)
		}
		if m[1] != strconv.Itoa(int(g.Type)) || m[2] != strconv.Itoa(int(g.SectorsPerCluster)) {
			t.Errorf("%d MiB: we chose FAT%d with %d sectors/cluster, mkfs.fat FAT%s with %s", mib, g.Type, g.SectorsPerCluster, m[1], m[2])
		}
	}
}

// sizeFor returns the smallest size (in sectors) at which Plan gives
// exactly n clusters with type t and the given cluster size.
func sizeFor(t *testing.T, typ Type, cluster int64, n uint32) int64 {
	t.Helper()
	lo := int64(n) * cluster / sectorSize
	for s := lo; s < lo+4096; s++ {
		g, ok := layout(uint32(s), typ, uint32(cluster/sectorSize))
		if ok && g.Clusters == n {
			return s * sectorSize
		}
	}
	t.Fatalf("no size gives FAT%d %d clusters of %d bytes", typ, n, cluster)
	return 0
}

func TestPlanClusterCountBoundaries(t *testing.T) {
	for _, tc := range []struct {
		typ      Type
		cluster  int64
		clusters uint32
	}{
		{FAT12, 512, 4084},
		{FAT16, 512, 4085},
		{FAT12, 2048, 4084},
		{FAT16, 2048, 4085},
		{FAT16, 512, 65524},
		{FAT32, 512, 65525},
		{FAT16, 4096, 65524},
		{FAT32, 4096, 65525},
	} {
		size := sizeFor(t, tc.typ, tc.cluster, tc.clusters)
		// The type follows from the cluster count alone.
		g, err := Plan(Options{Size: size, ClusterSize: tc.cluster})
		if err != nil {
			t.Fatalf("%d bytes: %v", size, err)
		}
		if g.Type != tc.typ || g.Clusters != tc.clusters {
			t.Errorf("%d bytes, %d-byte clusters: got FAT%d with %d clusters, want FAT%d with %d", size, tc.cluster, g.Type, g.Clusters, tc.typ, tc.clusters)
		}
		// The same size cannot be forced to the neighbouring type.
		other := FAT16
		if tc.typ == FAT16 {
			other = FAT12
			if tc.clusters > 60000 {
				other = FAT32
			}
		}
		if _, err := Plan(Options{Size: size, ClusterSize: tc.cluster, Type: other}); err == nil {
			t.Errorf("%d bytes, %d-byte clusters: FAT%d accepted", size, tc.cluster, other)
		}
	}
}

func TestPlanErrors(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Size: 1 << 20, Type: FAT32}, "cannot hold a valid FAT32 volume"},
		{Options{Size: 32 << 20, Type: FAT32}, "cannot hold a valid FAT32 volume"},
		{Options{Size: 1 << 20, Type: FAT16}, "cannot hold a valid FAT16 volume"},
		{Options{Size: 200 << 20, Type: FAT12}, "cannot hold a valid FAT12 volume"},
		{Options{Size: 4 << 30, Type: FAT16}, "cannot hold a valid FAT16 volume"},
		{Options{Size: 1000}, "not a positive multiple of 512"},
		{Options{Size: 0}, "not a positive multiple of 512"},
		{Options{Size: 3 << 40}, "larger than the FAT limit of 2199023255040 bytes"},
		{Options{Size: 2 << 40}, "size 2199023255552 is larger than the FAT limit of 2199023255040 bytes"},
		{Options{Size: 1 << 20, Type: 24}, "unknown FAT type"},
		{Options{Size: 1 << 20, ClusterSize: 3000}, "not a power of two"},
		{Options{Size: 1 << 20, ClusterSize: 128 << 10}, "not a power of two"},
		{Options{Size: 2048}, "cannot hold a FAT volume"},
	} {
		_, err := Plan(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Plan(%+v) = %v, want an error containing %q", tc.o, err, tc.want)
		}
	}
	// The limit itself is a valid size.
	if _, err := Plan(Options{Size: 2<<40 - 512}); err != nil {
		t.Errorf("2 TiB - 512: %v", err)
	}
	// The smallest forced FAT32 volume uses 512-byte clusters.
	g, err := Plan(Options{Size: 34 << 20, Type: FAT32})
	if err != nil || g.SectorsPerCluster != 1 || g.Clusters < 65525 {
		t.Errorf("34 MiB FAT32: %+v, %v", g, err)
	}
}
