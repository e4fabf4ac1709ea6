package verityroot

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/icos-build/icos/tools/verity"
)

const testHash = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func TestSplitCmdline(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  a  b\tc\n", "a|b|c"},
		{`BOOT_IMAGE=/vmlinuz root=PARTLABEL=A_root ro quiet`, "BOOT_IMAGE=/vmlinuz|root=PARTLABEL=A_root|ro|quiet"},
		{`x="a b" "y=c d" z`, "x=a b|y=c d|z"},
		{`a -- root_hash=00`, "a"},
		{`a "--" b`, "a"},
		{`a ""`, "a|"},
	} {
		if got := strings.Join(SplitCmdline(tc.in), "|"); got != tc.want {
			t.Errorf("SplitCmdline(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseCmdline(t *testing.T) {
	upper := strings.ToUpper(testHash)
	for _, tc := range []struct {
		name, cmdline string
		want          Params
		ok            bool
		err           string
	}{
		{"off", "root=PARTLABEL=A_root ro", Params{}, false, ""},
		{"on", "root=PARTLABEL=A_root ro root_hash=" + testHash + " root_hash_offset=3221225472", Params{"PARTLABEL=A_root", testHash, 3 << 30}, true, ""},
		{"upper case hash", "root=/dev/vda5 root_hash=" + upper + " root_hash_offset=4096", Params{"/dev/vda5", testHash, 4096}, true, ""},
		{"last root wins", "root=/dev/sda1 root=PARTLABEL=B_root root_hash=" + testHash + " root_hash_offset=8192", Params{"PARTLABEL=B_root", testHash, 8192}, true, ""},
		{"after --", "root=/dev/sda1 -- root_hash=" + testHash, Params{}, false, ""},
		{"short hash", "root=/dev/sda1 root_hash=abcd root_hash_offset=4096", Params{}, false, "root_hash=\"abcd\": want 64 hex digits"},
		{"not hex", "root=/dev/sda1 root_hash=" + strings.Repeat("g", 64) + " root_hash_offset=4096", Params{}, false, "want 64 hex digits"},
		{"empty hash", "root=/dev/sda1 root_hash= root_hash_offset=4096", Params{}, false, "want 64 hex digits"},
		{"no offset", "root=/dev/sda1 root_hash=" + testHash, Params{}, false, "root_hash= given without root_hash_offset="},
		{"offset alone", "root=/dev/sda1 root_hash_offset=4096", Params{}, false, "root_hash_offset= without root_hash="},
		{"unaligned offset", "root=/dev/sda1 root_hash=" + testHash + " root_hash_offset=4097", Params{}, false, "root_hash_offset=\"4097\": want a positive multiple of 4096"},
		{"zero offset", "root=/dev/sda1 root_hash=" + testHash + " root_hash_offset=0", Params{}, false, "positive multiple"},
		{"offset with unit", "root=/dev/sda1 root_hash=" + testHash + " root_hash_offset=3G", Params{}, false, "positive multiple"},
		{"twice", "root=/dev/sda1 root_hash=" + testHash + " root_hash=" + testHash + " root_hash_offset=4096", Params{}, false, "more than once"},
		{"no root", "root_hash=" + testHash + " root_hash_offset=4096", Params{}, false, "root_hash= given without root="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := ParseCmdline(tc.cmdline)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !strings.HasPrefix(err.Error(), "verityroot: ") {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil || ok != tc.ok || got != tc.want {
				t.Fatalf("got %+v %v %v, want %+v %v", got, ok, err, tc.want, tc.ok)
			}
		})
	}
}

func TestDevicePath(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"PARTLABEL=A_root", "/dev/disk/by-partlabel/A_root"},
		{"PARTUUID=ABCD-01", "/dev/disk/by-partuuid/abcd-01"},
		{"UUID=1234", "/dev/disk/by-uuid/1234"},
		{"LABEL=root", "/dev/disk/by-label/root"},
		{"/dev/vda5", "/dev/vda5"},
		{"/dev/", ""},
		{"vda5", ""},
		{"PARTLABEL=", ""},
		{"PARTLABEL=a/b", ""},
		{"PARTLABEL=..", ""},
		{"FOO=bar", ""},
	} {
		got, err := DevicePath(tc.in)
		if tc.want == "" {
			if err == nil || !strings.HasPrefix(err.Error(), "verityroot: root="+tc.in+": ") {
				t.Errorf("DevicePath(%q) = %q, %v; want an error naming it", tc.in, got, err)
			}
		} else if got != tc.want || err != nil {
			t.Errorf("DevicePath(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestDeviceID(t *testing.T) {
	for _, tc := range []struct {
		rdev uint64
		want string
	}{
		{0x0805, "8:5"},
		{0xfd00, "253:0"},
		{0x34 | 259<<8 | 0x12<<20, "259:4660"}, // minor 0x1234: its high bits above the major
	} {
		if got := DeviceID(tc.rdev); got != tc.want {
			t.Errorf("DeviceID(%#x) = %s, want %s", tc.rdev, got, tc.want)
		}
	}
}

// image is a partition as the build writes it: a filesystem of fsBlocks
// blocks, then its hash area (with superblock) at the filesystem's size.
func image(t *testing.T, fsBlocks int) (img []byte, root string, salt []byte) {
	t.Helper()
	salt = []byte("0123456789abcdef0123456789abcdef")
	data := make([]byte, fsBlocks*verity.BlockSize)
	for i := range data {
		data[i] = byte(i / 4096)
	}
	var w memDevice
	root, err := verity.WriteWithData(&w, bytes.NewReader(data), int64(len(data)), int64(len(data)), verity.Options{Salt: salt})
	if err != nil {
		t.Fatal(err)
	}
	return w.b, root, salt
}

func TestTableFromSuperblock(t *testing.T) {
	img, root, salt := image(t, 200)
	sb, err := ParseSuperblock(img[200*4096:])
	if err != nil {
		t.Fatal(err)
	}
	if err := checkSuperblock(sb, 200*4096, int64(len(img))); err != nil {
		t.Fatal(err)
	}
	got := Table("8:5", sb, 200*4096, root)
	want := "0 1600 verity 1 8:5 8:5 4096 4096 200 201 sha256 " + root + " " +
		"3031323334353637383961626364656630313233343536373839616263646566 1 panic_on_corruption"
	if got != want || !strings.HasPrefix(string(salt), "0123") {
		t.Fatalf("table\n got %s\nwant %s", got, want)
	}
}

func TestCheckSuperblock(t *testing.T) {
	img, _, _ := image(t, 200)
	good, err := ParseSuperblock(img[200*4096:])
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(img)) // 200 data blocks + superblock + 3 hash blocks
	for _, tc := range []struct {
		name string
		edit func(sb *Superblock)
		off  int64
		size int64
		want string
	}{
		{"ok", func(*Superblock) {}, 200 * 4096, size, ""},
		{"bigger device", func(*Superblock) {}, 200 * 4096, size + 1<<20, ""},
		{"hash type", func(sb *Superblock) { sb.HashType = 0 }, 200 * 4096, size, "hash type 0"},
		{"algorithm", func(sb *Superblock) { sb.Algorithm = "sha1" }, 200 * 4096, size, `algorithm "sha1"`},
		{"block size", func(sb *Superblock) { sb.HashBlockSize = 1024 }, 200 * 4096, size, "block sizes 4096/1024"},
		{"no salt", func(sb *Superblock) { sb.Salt = nil }, 200 * 4096, size, "empty salt"},
		{"fewer data blocks", func(sb *Superblock) { sb.DataBlocks = 199 }, 200 * 4096, size, "199 data blocks, but root_hash_offset=819200 means 200"},
		{"offset elsewhere", func(*Superblock) {}, 100 * 4096, size, "200 data blocks"},
		{"device too small", func(*Superblock) {}, 200 * 4096, size - 1, "too small for the hash area of 16384 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sb := good
			tc.edit(&sb)
			err := checkSuperblock(sb, tc.off, tc.size)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseModuleList(t *testing.T) {
	got, err := ParseModuleList(strings.NewReader("# load order\n/a/dm-mod.ko\n\n  /a/dm-bufio.ko  \n/a/dm-verity.ko"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, " ") != "/a/dm-mod.ko /a/dm-bufio.ko /a/dm-verity.ko" {
		t.Fatalf("got %q", got)
	}
}

// memDevice is an in-memory device and io.WriterAt.
type memDevice struct {
	b      []byte
	closed bool
}

func (m *memDevice) WriteAt(p []byte, off int64) (int, error) {
	if end := int(off) + len(p); end > len(m.b) {
		m.b = append(m.b, make([]byte, end-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}
func (m *memDevice) ReadAt(p []byte, off int64) (int, error) {
	return bytes.NewReader(m.b).ReadAt(p, off)
}
func (m *memDevice) Size() (int64, error) { return int64(len(m.b)), nil }
func (m *memDevice) ID() (string, error)  { return "8:5", nil }
func (m *memDevice) Close() error         { m.closed = true; return nil }

// fakeSystem records what Run does. Paths in appear holds the poll (count
// of Exists calls) from which they exist.
type fakeSystem struct {
	dev       *memDevice
	appear    map[string]int
	polls     int
	slept     time.Duration
	loaded    []string
	loadErr   map[string]error
	table     string
	createErr error
}

func (f *fakeSystem) Exists(path string) bool {
	f.polls++
	at, ok := f.appear[path]
	return ok && f.polls >= at
}
func (f *fakeSystem) OpenDevice(path string) (Device, error) {
	if path != "/dev/disk/by-partlabel/A_root" {
		return nil, errors.New("no such device " + path)
	}
	return f.dev, nil
}
func (f *fakeSystem) LoadModule(path string) error {
	f.loaded = append(f.loaded, path)
	return f.loadErr[path]
}
func (f *fakeSystem) CreateTarget(name, table string) error {
	if f.createErr != nil {
		return f.createErr
	}
	f.table = name + ": " + table
	f.appear[TargetPath] = 0
	return nil
}
func (f *fakeSystem) Sleep(d time.Duration) { f.slept += d }

func TestRun(t *testing.T) {
	img, root, _ := image(t, 300)
	cmdline := "BOOT_IMAGE=/vmlinuz root=PARTLABEL=A_root ro root_hash=" + root + " root_hash_offset=1228800"
	mods := []string{"/m/dm-mod.ko", "/m/dm-bufio.ko", "/m/reed_solomon.ko", "/m/dm-verity.ko"}
	newSys := func() *fakeSystem {
		return &fakeSystem{dev: &memDevice{b: bytes.Clone(img)}, appear: map[string]int{"/dev/disk/by-partlabel/A_root": 80}}
	}
	run := func(t *testing.T, sys *fakeSystem, cmdline string, timeout time.Duration) (bool, error, string, string) {
		param := filepath.Join(t.TempDir(), "param.conf")
		os.WriteFile(param, []byte("X=1\n"), 0o644)
		var log bytes.Buffer
		done, err := Run(Config{Cmdline: cmdline, Modules: mods, Timeout: timeout, ParamFile: param, Log: &log}, sys)
		b, _ := os.ReadFile(param)
		return done, err, string(b), log.String()
	}

	t.Run("ok", func(t *testing.T) {
		sys := newSys()
		done, err, param, log := run(t, sys, cmdline, 30*time.Second)
		if err != nil || !done {
			t.Fatalf("Run: %v %v", done, err)
		}
		if want := "X=1\nROOT=/dev/mapper/vroot\n"; param != want {
			t.Errorf("param.conf %q, want %q", param, want)
		}
		if strings.Join(sys.loaded, " ") != strings.Join(mods, " ") {
			t.Errorf("modules loaded %q, want %q", sys.loaded, mods)
		}
		want := "vroot: 0 2400 verity 1 8:5 8:5 4096 4096 300 301 sha256 " + root
		if !strings.HasPrefix(sys.table, want) || !strings.HasSuffix(sys.table, " 1 panic_on_corruption") {
			t.Errorf("table %q, want %q...", sys.table, want)
		}
		if !sys.dev.closed {
			t.Error("device not closed")
		}
		// Waited 79 polls of 100 ms: said so at 0 s and 5 s.
		if n := strings.Count(log, "waiting for /dev/disk/by-partlabel/A_root (root=PARTLABEL=A_root)"); n != 2 {
			t.Errorf("%d waiting messages, want 2:\n%s", n, log)
		}
	})

	t.Run("off", func(t *testing.T) {
		sys := newSys()
		done, err, param, _ := run(t, sys, "root=PARTLABEL=A_root ro", time.Second)
		if err != nil || done || param != "X=1\n" || len(sys.loaded) > 0 {
			t.Fatalf("without root_hash=: done %v, error %v, param %q, loaded %q", done, err, param, sys.loaded)
		}
	})

	for _, tc := range []struct {
		name    string
		edit    func(s *fakeSystem)
		cmdline string
		timeout time.Duration
		want    string
	}{
		{"timeout", nil, cmdline, 5 * time.Second, "verityroot: /dev/disk/by-partlabel/A_root (root=PARTLABEL=A_root) did not appear within 5s"},
		{"module", func(s *fakeSystem) {
			s.loadErr = map[string]error{"/m/dm-bufio.ko": errors.New("finit_module: exec format error")}
		}, cmdline, time.Minute,
			"verityroot: load module /m/dm-bufio.ko: finit_module: exec format error"},
		{"no superblock", func(s *fakeSystem) { clear(s.dev.b[300*4096 : 301*4096]) }, cmdline, time.Minute,
			"verityroot: /dev/disk/by-partlabel/A_root: superblock at 1228800: no verity superblock"},
		{"wrong offset", nil, strings.Replace(cmdline, "1228800", "409600", 1), time.Minute,
			"verityroot: /dev/disk/by-partlabel/A_root: superblock at 409600: no verity superblock"},
		{"offset beyond", nil, strings.Replace(cmdline, "1228800", "4096000", 1), time.Minute,
			"verityroot: /dev/disk/by-partlabel/A_root: root_hash_offset=4096000 beyond the device's"},
		{"truncated", func(s *fakeSystem) { s.dev.b = s.dev.b[:len(s.dev.b)-4096] }, cmdline, time.Minute,
			"superblock at 1228800: device of 1245184 bytes, too small for the hash area of 20480 bytes"},
		{"dmsetup", func(s *fakeSystem) {
			s.createErr = errors.New("/usr/sbin/dmsetup: exit status 1: device-mapper: reload ioctl failed")
		}, cmdline, time.Minute,
			"verityroot: create vroot on /dev/disk/by-partlabel/A_root: /usr/sbin/dmsetup: exit status 1"},
		{"bad root", nil, strings.Replace(cmdline, "root=PARTLABEL=A_root", "root=A_root", 1), time.Minute, "verityroot: root=A_root: want"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sys := newSys()
			if tc.edit != nil {
				tc.edit(sys)
			}
			done, err, param, _ := run(t, sys, tc.cmdline, tc.timeout)
			if err == nil || done || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if param != "X=1\n" {
				t.Errorf("param.conf written on failure: %q", param)
			}
		})
	}

	t.Run("no modules", func(t *testing.T) {
		_, err := Run(Config{Cmdline: cmdline, ParamFile: "/nonexistent", Log: &bytes.Buffer{}}, newSys())
		if err == nil || !strings.Contains(err.Error(), "no kernel modules") {
			t.Fatalf("error %v", err)
		}
	})
}
