package boottest

import (
	"archive/tar"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/grubenv"
	"github.com/icos-build/icos/tools/zst"
)

func TestParseSfdisk(t *testing.T) {
	good := `{"partitiontable": {"label": "gpt", "sectorsize": 512, "partitions": [
		{"node": "d1", "start": 2048, "size": 204800, "name": "esp"},
		{"node": "d2", "start": 206848, "size": 2048, "name": "grub"}]}}`
	parts, err := parseSfdisk([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Partition{"esp": {"esp", 1 << 20, 100 << 20}, "grub": {"grub", 206848 * 512, 1 << 20}}
	if !reflect.DeepEqual(parts, want) {
		t.Errorf("got %v, want %v", parts, want)
	}
	for name, bad := range map[string]string{
		"dos":       `{"partitiontable": {"label": "dos", "partitions": []}}`,
		"duplicate": `{"partitiontable": {"label": "gpt", "partitions": [{"start": 1, "size": 1, "name": "a"}, {"start": 2, "size": 1, "name": "a"}]}}`,
		"unnamed":   `{"partitiontable": {"label": "gpt", "partitions": [{"start": 1, "size": 1}]}}`,
		"not json":  `sfdisk: cannot open`,
	} {
		if _, err := parseSfdisk([]byte(bad)); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseFailed(t *testing.T) {
	out := "ssh.service loaded failed failed OpenBSD Secure Shell server\nchrony.service loaded failed failed chrony\n\n"
	if got, want := parseFailed(out), []string{"chrony.service", "ssh.service"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := parseFailed(""); got != nil {
		t.Errorf("no failed units: got %v", got)
	}
}

func TestCheck(t *testing.T) {
	e := Expect{Slot: "B", Cycle: "failsafe_check", Verity: true, Login: "root:root",
		Root: regexp.MustCompile(`^/dev/mapper/vroot ext4 ro`), AllowFailed: map[string]string{"ssh.service": "no host keys"}}
	ok := Result{Slot: "B", Cycle: "failsafe_check", Root: "/dev/mapper/vroot ext4 ro,relatime", Failed: []string{"ssh.service"},
		CmdLine: "BOOT_IMAGE=/vmlinuz root=PARTLABEL=B_root dfinity.system=B dfinity.boot_state=failsafe_check root_hash=ab"}
	if errs := e.Check(ok); len(errs) != 0 {
		t.Errorf("good result: %v", errs)
	}
	tests := []struct {
		name string
		edit func(*Result)
		want string
	}{
		{"slot", func(r *Result) { r.Slot = "A" }, "GRUB booted system A"},
		{"cmdline", func(r *Result) { r.CmdLine = strings.Replace(r.CmdLine, "dfinity.system=B", "dfinity.system=A", 1) }, "lacks dfinity.system=B"},
		{"root hash", func(r *Result) { r.CmdLine = strings.Replace(r.CmdLine, "root_hash=ab", "", 1) }, "lacks root_hash="},
		{"root", func(r *Result) { r.Root = "/dev/vda5 ext4 rw" }, `/ is "/dev/vda5 ext4 rw"`},
		{"failed", func(r *Result) { r.Failed = append(r.Failed, "x.service") }, "unit x.service failed (not explained)"},
	}
	for _, tc := range tests {
		r := ok
		r.Failed = append([]string(nil), ok.Failed...)
		tc.edit(&r)
		if errs := e.Check(r); len(errs) != 1 || !strings.Contains(errs[0], tc.want) {
			t.Errorf("%s: %v, want one error with %q", tc.name, errs, tc.want)
		}
	}
}

type sliceWriter []byte

func (s sliceWriter) WriteAt(p []byte, off int64) (int, error) { return copy(s[off:], p), nil }

func TestWriteNonZero(t *testing.T) {
	src := make([]byte, 3*4096+100)
	src[5000] = 1
	src[3*4096+50] = 2
	dst := make(sliceWriter, 2*len(src))
	for i := range dst {
		dst[i] = 9 // where nothing is written, the old bytes stay
	}
	n, err := writeNonZero(dst, bytes.NewReader(src), 10, int64(len(src)))
	if err != nil || n != int64(len(src)) {
		t.Fatalf("n %d, err %v", n, err)
	}
	if dst[10+5000] != 1 || dst[10+3*4096+50] != 2 || dst[10+4096] != 0 || dst[10] != 9 || dst[10+2*4096] != 9 {
		t.Errorf("non-zero blocks written, zero blocks skipped: wrong bytes")
	}
	if _, err := writeNonZero(dst, bytes.NewReader(src), 0, 100); err == nil {
		t.Errorf("larger than the partition: no error")
	}
}

// TestGrubenvOnFAT edits grubenv in a FAT filesystem inside a disk image
// with mtools, and reads it back with mtools and grub-editenv.
func TestGrubenvOnFAT(t *testing.T) {
	for _, tool := range []string{"mkfs.vfat", "mcopy", "grub-editenv"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed", tool)
		}
	}
	dir := t.TempDir()
	fs := filepath.Join(dir, "fs.img")
	if out, err := exec.Command("mkfs.vfat", "-C", fs, "2048").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.vfat: %v\n%s", err, out)
	}
	env, _ := grubenv.Encode([]grubenv.Var{{Name: "boot_alternative", Value: "A"}, {Name: "boot_cycle", Value: "install"}})
	src := filepath.Join(dir, "grubenv")
	os.WriteFile(src, env, 0o644)
	if out, err := exec.Command("mcopy", "-i", fs, src, "::grubenv").CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, out)
	}
	// The filesystem at 1 MiB into a disk image.
	disk := filepath.Join(dir, "disk.img")
	b, _ := os.ReadFile(fs)
	os.WriteFile(disk, append(make([]byte, 1<<20), b...), 0o644)
	p := Partition{Name: "grub", Offset: 1 << 20, Size: int64(len(b))}
	if err := SetGrubenv(disk, p, "boot_alternative=B", "boot_cycle=first_boot"); err != nil {
		t.Fatal(err)
	}
	vars, err := ReadGrubenv(disk, p)
	if err != nil {
		t.Fatal(err)
	}
	want := []grubenv.Var{{Name: "boot_alternative", Value: "B"}, {Name: "boot_cycle", Value: "first_boot"}}
	if !reflect.DeepEqual(vars, want) {
		t.Errorf("read back %v, want %v", vars, want)
	}
	out := filepath.Join(dir, "out")
	if o, err := exec.Command("mcopy", "-i", disk+"@@1048576", "::grubenv", out).CombinedOutput(); err != nil {
		t.Fatalf("mcopy: %v\n%s", err, o)
	}
	list, err := exec.Command("grub-editenv", out, "list").Output()
	if err != nil || string(list) != "boot_alternative=B\nboot_cycle=first_boot\n" {
		t.Errorf("grub-editenv list: %q, %v", list, err)
	}
	if err := SetGrubenv(disk, p, "novalue"); err == nil {
		t.Errorf("a variable without =: no error")
	}
}

func TestFlipByte(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(disk, make([]byte, 8192), 0o644)
	p := Partition{Name: "A_root", Offset: 4096, Size: 4096}
	if err := FlipByte(disk, p, 512); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(disk)
	if b[4096+512] != 0xff || bytes.Count(b, []byte{0xff}) != 1 {
		t.Errorf("want exactly byte %d flipped", 4096+512)
	}
	if err := FlipByte(disk, p, 4096); err == nil {
		t.Errorf("offset past the partition: no error")
	}
}

func updateArchive(t *testing.T, entries map[string][]byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zst.NewWriter(&buf, zst.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tw := tar.NewWriter(zw)
	for _, name := range []string{"VERSION.TXT", "boot.img", "root.img"} {
		b, ok := entries[name]
		if !ok {
			continue
		}
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
		tw.Write(b)
	}
	tw.Close()
	zw.Close()
	p := filepath.Join(t.TempDir(), "update-img.tar.zst")
	os.WriteFile(p, buf.Bytes(), 0o644)
	return p
}

func TestWriteUpdate(t *testing.T) {
	boot, root := bytes.Repeat([]byte("b"), 8192), append(make([]byte, 4096), bytes.Repeat([]byte("r"), 4096)...)
	bootP, rootP := Partition{"B_boot", 4096, 8192}, Partition{"B_root", 16384, 8192}
	disk := filepath.Join(t.TempDir(), "disk.img")
	os.WriteFile(disk, make([]byte, 32768), 0o644)
	if err := WriteUpdate(disk, updateArchive(t, map[string][]byte{"VERSION.TXT": []byte("1\n"), "boot.img": boot, "root.img": root}), bootP, rootP); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(disk)
	if !bytes.Equal(b[4096:12288], boot) || !bytes.Equal(b[16384:24576], root) || !bytes.Equal(b[:4096], make([]byte, 4096)) {
		t.Errorf("partitions do not hold the images")
	}
	for name, entries := range map[string]map[string][]byte{
		"no root.img":    {"boot.img": boot},
		"too large":      {"boot.img": append(boot, 1), "root.img": root},
		"empty boot.img": {"boot.img": nil, "root.img": root},
	} {
		if err := WriteUpdate(disk, updateArchive(t, entries), bootP, rootP); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
