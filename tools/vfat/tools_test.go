package vfat

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// Helpers running the tools people trust on FAT images: dosfstools
// (fsck.vfat, mkfs.fat) and mtools (mdir, mtype, mcopy, minfo, mformat).

// run runs a tool and returns its combined output and exit code.
func run(t testing.TB, name, pkg string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(testutil.Tool(t, name, pkg), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8", "MTOOLS_SKIP_CHECK=0")
	out, err := cmd.CombinedOutput()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return string(out), ee.ExitCode()
		}
		t.Fatalf("%s: %v", name, err)
	}
	return string(out), 0
}

// mtool runs an mtools command that must succeed and returns its stdout.
func mtool(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(testutil.Tool(t, name, "mtools"), args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C.UTF-8")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return out
}

var fsckSummary = regexp.MustCompile(`^\S+: \d+ files, \d+/\d+ clusters$`)

// fsck runs `fsck.vfat -n -v` and requires exit 0 and no message besides
// the summary; it returns the FAT width fsck detected.
func fsck(t testing.TB, img string) int {
	t.Helper()
	out, rc := run(t, "fsck.vfat", "dosfstools", "-n", "-v", img)
	if rc != 0 {
		t.Fatalf("fsck.vfat -n %s: exit %d\n%s", img, rc, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !fsckSummary.MatchString(lines[len(lines)-1]) {
		t.Fatalf("fsck.vfat -n %s: unexpected summary\n%s", img, out)
	}
	bits := 0
	for _, l := range lines {
		l = strings.TrimSpace(l)
		if m := regexp.MustCompile(`^2 FATs, (\d+) bit entries$`).FindStringSubmatch(l); m != nil {
			bits, _ = strconv.Atoi(m[1])
		}
		// Only the verbose dump of the boot sector and the progress lines
		// are expected; anything else is a complaint.
		if strings.Contains(l, "arning") || strings.Contains(l, "rong") || strings.Contains(l, "rror") ||
			strings.Contains(l, "ad ") || strings.Contains(l, "orrupt") || strings.Contains(l, "nvalid") {
			t.Fatalf("fsck.vfat -n %s complains:\n%s", img, out)
		}
	}
	if bits == 0 {
		t.Fatalf("fsck.vfat -v %s: no FAT width in output\n%s", img, out)
	}
	return bits
}

// minfo returns the fields of `minfo -i img` as key -> value.
func minfo(t testing.TB, img string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, l := range strings.Split(string(mtool(t, "minfo", "-i", img)), "\n") {
		k, v, ok := strings.Cut(l, ": ")
		if !ok {
			k, v, ok = strings.Cut(l, "=")
		}
		if ok {
			m[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
		}
	}
	return m
}

// image is a raw view of a written image, for checks no tool reports. It
// reads only what it needs, so sparse multi-GiB images stay cheap.
type image struct {
	f    *os.File
	g    Geometry
	fats [2][]byte
}

func readImage(t testing.TB, path string, g Geometry) *image {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	im := &image{f: f, g: g}
	for i := range im.fats {
		im.fats[i] = im.read(int64(g.FATStart(i))*sectorSize, int64(g.FATSectors)*sectorSize)
	}
	return im
}

// read returns n bytes at off.
func (im *image) read(off, n int64) []byte {
	b := make([]byte, n)
	if _, err := im.f.ReadAt(b, off); err != nil {
		panic(err)
	}
	return b
}

// patch overwrites bytes at off (to damage an image on purpose).
func (im *image) patch(off int64, b ...byte) {
	if _, err := im.f.WriteAt(b, off); err != nil {
		panic(err)
	}
}

// rawEntry is a decoded 32-byte directory entry.
type rawEntry struct {
	name    string // 11 raw bytes
	attr    byte
	ntres   byte
	cluster uint32
	size    uint32
	raw     []byte
}

// dir returns the entries of the directory at cluster c (0: the root).
func (im *image) dir(c uint32) []rawEntry {
	var data []byte
	g := im.g
	if c == 0 && g.Type != FAT32 {
		data = im.read(int64(g.RootStart())*sectorSize, int64(g.RootEntries)*32)
	} else {
		if c == 0 {
			c = binary.LittleEndian.Uint32(im.read(44, 4))
		}
		for ; c >= 2 && c < g.Clusters+2; c = im.fat(c) {
			data = append(data, im.read(g.ClusterOffset(c), g.ClusterBytes())...)
		}
	}
	var out []rawEntry
	for i := 0; i+32 <= len(data) && data[i] != 0; i += 32 {
		e := data[i : i+32]
		out = append(out, rawEntry{
			name:    string(e[0:11]),
			attr:    e[11],
			ntres:   e[12],
			cluster: uint32(binary.LittleEndian.Uint16(e[20:]))<<16 | uint32(binary.LittleEndian.Uint16(e[26:])),
			size:    binary.LittleEndian.Uint32(e[28:]),
			raw:     e,
		})
	}
	return out
}

// fat returns entry c of the first FAT.
func (im *image) fat(c uint32) uint32 {
	b := im.fats[0]
	switch im.g.Type {
	case FAT12:
		v := uint32(binary.LittleEndian.Uint16(b[c*3/2:]))
		if c%2 == 1 {
			return v >> 4
		}
		return v & 0xFFF
	case FAT16:
		return uint32(binary.LittleEndian.Uint16(b[c*2:]))
	default:
		return binary.LittleEndian.Uint32(b[c*4:]) & 0x0FFFFFFF
	}
}
