package lvm

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/klauspost/compress/zstd"

	"github.com/icos-build/icos/tools/outfile"

	"github.com/icos-build/icos/tools/internal/testutil"
)

const (
	testVGUUID = "Y9Tqbl-20VK-Yapy-Gax6-8Lzf-DcH2-tr2Ynq"
	testPVUUID = "ABCDEFghijklmnopqrstuvwxyz012345"
	testVols   = `# name,start,size,uuid[,comment]
config ,    , 25e, SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm, Config partition
A_boot ,    , 8M,  0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x
A_root , 30e, 3e,  RM99J5-B2t1-JU3l-HNco-J2f2-1808-eJGo3s
guestos,    , 10e, woW7RT-t6jS-cRo2-uENw-iQXu-ni2u-AZdHpq, GuestOS disk
`
)

// testConfig is a 200 MiB PV (49 extents) with four LVs and a gap.
func testConfig() Config {
	vols, err := ParseVolumes(strings.NewReader(testVols), "volumes.csv", DefaultExtentSize)
	if err != nil {
		panic(err)
	}
	return Config{
		Size: 200 << 20, VGName: "hostlvm", VGUUID: testVGUUID, PVUUID: testPVUUID,
		CreationTime: 1700000000, CreationHost: `build "host"`, PVDevice: "/dev/sda3", Volumes: vols,
	}
}

// buildPV does what `icos lvm` does.
func buildPV(c Config, out string, images map[string]string) (*Layout, error) {
	l, err := Plan(c)
	if err != nil {
		return nil, err
	}
	f, err := outfile.Create(out, 0o644)
	if err != nil {
		return nil, err
	}
	defer f.Abort()
	if err := l.Write(f.File, images); err != nil {
		return nil, err
	}
	return l, f.Commit()
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// lvmCmd runs an lvm tool quietly, returning stdout, stderr and the error.
func lvmCmd(name string, args ...string) (string, string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "LVM_SUPPRESS_FD_WARNINGS=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// testImages writes seeded images for three of the four LVs (A_root stays
// empty); A_boot's is compressed and ends mid-block, guestos's has holes.
func testImages(t *testing.T, dir string) (map[string]string, map[string][]byte) {
	data := map[string][]byte{
		"config":  randomData(1, 6<<20),
		"A_boot":  randomData(2, 5<<20+1234),
		"guestos": append(make([]byte, 12<<20), randomData(3, 1<<20)...),
	}
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	images := map[string]string{}
	for name, b := range data {
		path := filepath.Join(dir, name+".img")
		if name == "A_boot" {
			path += ".zst"
			b = enc.EncodeAll(b, nil)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		images[name] = path
	}
	return images, data
}

func randomData(seed int64, n int) []byte {
	b := make([]byte, n)
	rand.New(rand.NewSource(seed)).Read(b)
	return b
}

// parseMetadata flattens lvm config text into "section/.../key" -> value
// (arrays joined by spaces, strings unquoted).
func parseMetadata(t *testing.T, text string) map[string]string {
	t.Helper()
	kv := map[string]string{}
	var path []string
	lines := strings.Split(text, "\n")
	for i := 0; i < len(lines); i++ {
		line := strings.TrimSpace(lines[i])
		if j := strings.Index(line, "#"); j >= 0 && !strings.Contains(line[:j], `"`) {
			line = strings.TrimSpace(line[:j])
		}
		switch {
		case line == "":
		case strings.HasSuffix(line, "{"):
			path = append(path, strings.TrimSpace(strings.TrimSuffix(line, "{")))
		case line == "}":
			path = path[:len(path)-1]
		case strings.Contains(line, "="):
			k, v, _ := strings.Cut(line, "=")
			v = strings.TrimSpace(v)
			if v == "[" {
				for i++; strings.TrimSpace(lines[i]) != "]"; i++ {
					v += " " + strings.TrimSpace(lines[i])
				}
				v += " ]"
			}
			if s, err := strconv.Unquote(v); err == nil {
				v = s
			}
			kv[strings.Join(append(append([]string(nil), path...), strings.TrimSpace(k)), "/")] = v
		default:
			t.Fatalf("metadata line %d: %q", i+1, line)
		}
	}
	if len(path) != 0 {
		t.Fatalf("metadata: unclosed sections %v", path)
	}
	return kv
}

func TestPVCK(t *testing.T) {
	pvck := testutil.Tool(t, "pvck", "lvm2")
	dir := t.TempDir()
	images, _ := testImages(t, dir)
	img := filepath.Join(dir, "pv.img")
	l, err := buildPV(testConfig(), img, images)
	if err != nil {
		t.Fatal(err)
	}

	out, stderr, err := lvmCmd(pvck, "--dump", "headers", img)
	all := out + stderr
	if err != nil || strings.Contains(all, "CHECK") || strings.Contains(all, "WARNING") || strings.Contains(all, "bad") {
		t.Fatalf("pvck --dump headers: %v\n%s", err, all)
	}
	for _, want := range []string{
		"label_header.sector 1",
		"label_header.type LVM2 001",
		"pv_header.pv_uuid " + testPVUUID,
		"pv_header.device_size 209715200",
		"pv_header.disk_locn[0].offset 1048576",
		"pv_header.disk_locn[2].offset 4096",
		"pv_header.disk_locn[2].size 1044480",
		"pv_header_extension.version 2",
		"pv_header_extension.flags 1",
		"mda_header_1.start 4096",
		"mda_header_1.size 1044480",
		"mda_header_1.raw_locn[0].offset 512",
		fmt.Sprintf("mda_header_1.raw_locn[0].size %d", len(l.Text)),
		fmt.Sprintf("mda_header_1.raw_locn[0].checksum %#x", crc([]byte(l.Text))),
		"metadata text at 4608",
		"vgname hostlvm seqno 1",
	} {
		if !strings.Contains(all, want) {
			t.Errorf("pvck --dump headers lacks %q:\n%s", want, all)
		}
	}

	out, stderr, err = lvmCmd(pvck, "--dump", "metadata", img)
	if err != nil {
		t.Fatalf("pvck --dump metadata: %v\n%s%s", err, out, stderr)
	}
	parts := strings.Split(out, "  ---\n")
	if len(parts) != 3 {
		t.Fatalf("pvck --dump metadata: no text between --- lines:\n%s", out)
	}
	md := parseMetadata(t, parts[1])
	want := map[string]string{
		"hostlvm/id":                                   testVGUUID,
		"hostlvm/seqno":                                "1",
		"hostlvm/format":                               "lvm2",
		"hostlvm/extent_size":                          "8192",
		"hostlvm/physical_volumes/pv0/id":              "ABCDEF-ghij-klmn-opqr-stuv-wxyz-012345",
		"hostlvm/physical_volumes/pv0/device":          "/dev/sda3",
		"hostlvm/physical_volumes/pv0/dev_size":        "409600",
		"hostlvm/physical_volumes/pv0/pe_start":        "2048",
		"hostlvm/physical_volumes/pv0/pe_count":        "49",
		"contents":                                     "Text Format Volume Group",
		"version":                                      "1",
		"creation_time":                                "1700000000",
		"creation_host":                                `build "host"`,
		"hostlvm/logical_volumes/A_root/segment_count": "1",
	}
	lvs := []struct {
		name, uuid     string
		start, extents int
	}{
		{"config", "SIs20R-l6gh-2Rli-KAP0-ZO88-3Y4q-G9JPAm", 0, 25},
		{"A_boot", "0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x", 25, 2},
		{"A_root", "RM99J5-B2t1-JU3l-HNco-J2f2-1808-eJGo3s", 30, 3},
		{"guestos", "woW7RT-t6jS-cRo2-uENw-iQXu-ni2u-AZdHpq", 33, 10},
	}
	for _, lv := range lvs {
		p := "hostlvm/logical_volumes/" + lv.name + "/"
		want[p+"id"] = lv.uuid
		want[p+"status"] = `["READ", "WRITE", "VISIBLE"]`
		want[p+"creation_time"] = "1700000000"
		want[p+"creation_host"] = `build "host"`
		want[p+"segment1/start_extent"] = "0"
		want[p+"segment1/extent_count"] = strconv.Itoa(lv.extents)
		want[p+"segment1/type"] = "striped"
		want[p+"segment1/stripe_count"] = "1"
		want[p+"segment1/stripes"] = fmt.Sprintf(`[ "pv0", %d ]`, lv.start)
	}
	for k, v := range want {
		if md[k] != v {
			t.Errorf("metadata %s = %q, want %q", k, md[k], v)
		}
	}
}

// TestLoopDevice checks the image with lvm2 on a loop device: pvck, vgck,
// pvs/vgs/lvs list exactly what we wrote, and the LV contents read through
// the extent ranges lvs reports equal their images. Without loop devices
// (e.g. unprivileged sandboxes) the test is skipped; TestPVCK still checks
// the file. With device-mapper it also activates the VG and reads each LV.
func TestLoopDevice(t *testing.T) {
	losetup := testutil.Tool(t, "losetup", "mount")
	pvck, vgck, lvsTool, pvs, vgs := testutil.Tool(t, "pvck", "lvm2"), testutil.Tool(t, "vgck", "lvm2"), testutil.Tool(t, "lvs", "lvm2"), testutil.Tool(t, "pvs", "lvm2"), testutil.Tool(t, "vgs", "lvm2")
	vgchange := testutil.Tool(t, "vgchange", "lvm2")
	dir := t.TempDir()
	images, data := testImages(t, dir)
	img := filepath.Join(dir, "pv.img")
	l, err := buildPV(testConfig(), img, images)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(losetup, "-f", "--show", img).CombinedOutput()
	if err != nil {
		t.Skipf("no loop device (%v: %s): checked with pvck on the file only (TestPVCK)", err, bytes.TrimSpace(out))
	}
	dev := strings.TrimSpace(string(out))
	activated := false
	t.Cleanup(func() {
		// Deactivate first: a host with udev rules may have auto-activated
		// the VG when the loop device appeared.
		stdout, stderr, err := lvmCmd(vgchange, "-an", "hostlvm", "--devices", dev)
		if err != nil && activated {
			t.Errorf("vgchange -an: %v %s%s", err, stdout, stderr)
		}
		if out, err := exec.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	// --devices limits every command to our loop device: the host's disks
	// are neither scanned nor touched.
	sel := []string{"--devices", dev}
	mustLVM := func(name string, args ...string) string {
		t.Helper()
		stdout, stderr, err := lvmCmd(name, append(args, sel...)...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s%s", filepath.Base(name), strings.Join(args, " "), err, stdout, stderr)
		}
		return stdout
	}
	mustLVM(pvck, dev)
	mustLVM(vgck, "hostlvm")
	report := []string{"--noheadings", "--separator", ",", "--units", "b", "--nosuffix", "--driverloaded", "n", "-o"}
	if got, want := strings.TrimSpace(mustLVM(pvs, append(report, "pv_name,vg_name,pv_uuid,pe_start,pv_size,pv_pe_count")...)),
		dev+",hostlvm,ABCDEF-ghij-klmn-opqr-stuv-wxyz-012345,1048576,205520896,49"; got != want {
		t.Errorf("pvs: %q, want %q", got, want)
	}
	if got, want := strings.TrimSpace(mustLVM(vgs, append(report, "vg_name,vg_uuid,vg_extent_size,vg_extent_count,lv_count,vg_seqno")...)),
		"hostlvm,"+testVGUUID+",4194304,49,4,1"; got != want {
		t.Errorf("vgs: %q, want %q", got, want)
	}
	var got []string
	for _, line := range strings.Split(strings.TrimSpace(mustLVM(lvsTool, append(report, "lv_name,lv_uuid,lv_size,seg_pe_ranges,lv_host")...)), "\n") {
		got = append(got, strings.TrimSpace(line))
	}
	var wantLVs []string
	for _, v := range l.Volumes {
		wantLVs = append(wantLVs, fmt.Sprintf("%s,%s,%d,%s:%d-%d,build \"host\"", v.Name, v.UUID, l.VolumeSize(v), dev, v.Start, v.Start+v.Extents-1))
	}
	sort.Strings(got)
	sort.Strings(wantLVs)
	if strings.Join(got, "\n") != strings.Join(wantLVs, "\n") {
		t.Errorf("lvs:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantLVs, "\n"))
	}

	// Read each LV through the loop device at the extents lvs reported.
	f, err := os.Open(dev)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rangeRE := regexp.MustCompile(`^([^,]+),[^,]+,[^,]+,[^:]+:(\d+)-(\d+),`)
	for _, line := range got {
		m := rangeRE.FindStringSubmatch(line)
		if m == nil {
			t.Fatalf("lvs line %q", line)
		}
		first, _ := strconv.ParseInt(m[2], 10, 64)
		last, _ := strconv.ParseInt(m[3], 10, 64)
		content := make([]byte, (last-first+1)*DefaultExtentSize)
		if _, err := f.ReadAt(content, peStart+first*DefaultExtentSize); err != nil {
			t.Fatal(err)
		}
		checkLV(t, m[1], content, data[m[1]])
	}

	// Activation needs device-mapper, which sandboxes often lack.
	stdout, stderr, err := lvmCmd(vgchange, append([]string{"-ay", "hostlvm"}, sel...)...)
	if err != nil {
		t.Logf("vgchange -ay failed, LVs checked through the loop device only: %v %s%s", err, stdout, stderr)
		return
	}
	activated = true
	for _, v := range l.Volumes {
		content, err := os.ReadFile("/dev/mapper/hostlvm-" + strings.ReplaceAll(v.Name, "-", "--"))
		if err != nil {
			t.Fatal(err)
		}
		checkLV(t, v.Name, content, data[v.Name])
	}
}

func checkLV(t *testing.T, name string, content, image []byte) {
	t.Helper()
	if len(image) > len(content) || !bytes.Equal(content[:len(image)], image) {
		t.Errorf("LV %s: content differs from its image", name)
		return
	}
	for _, c := range content[len(image):] {
		if c != 0 {
			t.Errorf("LV %s: not zero after its %d-byte image", name, len(image))
			return
		}
	}
}

func TestImageErrors(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big.img")
	if err := os.WriteFile(big, make([]byte, 8<<20+1), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		images  map[string]string
		wantErr string
	}{
		{"too large", map[string]string{"A_boot": big}, "lvm: volume A_boot: sparse: " + big + ": image larger than its destination: image is 8388609 bytes, destination 8388608 bytes"},
		{"unknown", map[string]string{"nope": big}, `lvm: image for "nope": no such logical volume`},
		{"missing", map[string]string{"A_boot": filepath.Join(dir, "missing.img")}, "lvm: volume A_boot: sparse: open "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(dir, "pv.img")
			_, err := buildPV(testConfig(), out, tc.images)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error = %v, want containing %q", err, tc.wantErr)
			}
			if fileExists(out) {
				t.Errorf("output left behind after an error")
			}
		})
	}
}

func TestSparse(t *testing.T) {
	dir := t.TempDir()
	images, _ := testImages(t, dir)
	c := testConfig()
	c.Size = 100 << 30
	out := filepath.Join(dir, "pv.img")
	if _, err := buildPV(c, out, images); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatal(err)
	}
	// 6 MiB + 5 MiB + 1 MiB of data; the 12 MiB zero prefix is a hole.
	if allocated := st.Sys().(*syscall.Stat_t).Blocks * 512; st.Size() != c.Size || allocated > 14<<20 {
		t.Fatalf("size %d, allocated %d; want %d and at most 14 MiB", st.Size(), allocated, c.Size)
	}
}

func TestDeterministic(t *testing.T) {
	images, _ := testImages(t, t.TempDir())
	var sums []string
	for _, env := range []*testutil.Env{nil, {TZ: "UTC", Umask: 0o022}, {TZ: "America/St_Johns", Umask: 0o077}} {
		out := filepath.Join(t.TempDir(), "pv.img")
		var b []byte
		if env == nil {
			if _, err := buildPV(testConfig(), out, images); err != nil {
				t.Fatal(err)
			}
			var err error
			if b, err = os.ReadFile(out); err != nil {
				t.Fatal(err)
			}
		} else {
			b = testutil.Rerun(t, "TestDeterministicHelper", *env, out, deterministicArgs{Out: out, Images: images})
		}
		sums = append(sums, fmt.Sprintf("%x", sha256.Sum256(b)))
	}
	if sums[0] != sums[1] || sums[1] != sums[2] {
		t.Fatalf("outputs differ: %v", sums)
	}
}

// deterministicArgs is the job of TestDeterministicHelper.
type deterministicArgs struct {
	Out    string
	Images map[string]string
}

// TestDeterministicHelper writes a PV in the helper processes of
// TestDeterministic; it does nothing in a normal test run.
func TestDeterministicHelper(t *testing.T) {
	var args deterministicArgs
	if !testutil.HelperArgs(t, &args) {
		return
	}
	if _, err := buildPV(testConfig(), args.Out, args.Images); err != nil {
		t.Fatal(err)
	}
}
