package imagecheck

import (
	"archive/tar"
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/ext4"
	"github.com/icos-build/icos/tools/gpt"
	"github.com/icos-build/icos/tools/lvm"
	"github.com/icos-build/icos/tools/pack"
	"github.com/icos-build/icos/tools/vfat"
)

const (
	testDiskSize = 64 << 20
	testParts    = `esp    , , 4M , U,
grub   , , 4M , L,
A_boot , , 4M , L,
A_root , , 8M , L,
A_var  , , 2M , L,
hostlvm, , 24M, V,
`
	testVolumes = `config , , 8M, kK4cdK-Ue2W-mMyV-9k3m-0mGW-8hAy-t2xZ0n
guestos, , 4M, 4mQw2E-rT3y-Ui4o-Pa5s-Df6g-Hj7k-Lz8Xx7
`
	testVersion = "1.2.3-test\n"
	devHash     = "$6$salt$hash"
)

// tarEntry is one entry of a test tar: a directory (name ends in /), a
// symlink (link set) or a regular file.
type tarEntry struct {
	name, body, link string
	mode             int64
}

func makeTar(t *testing.T, entries []tarEntry) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		switch {
		case strings.HasSuffix(e.name, "/"):
			h.Typeflag, h.Mode, h.Size = tar.TypeDir, 0o755, 0
		case e.link != "":
			h.Typeflag, h.Linkname, h.Mode, h.Size = tar.TypeSymlink, e.link, 0o777, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func makeExt4(t *testing.T, path string, size int64, entries []tarEntry) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := ext4.Build(makeTar(t, entries), f, ext4.Options{Size: size, Label: filepath.Base(path)}); err != nil {
		t.Fatal(err)
	}
}

func makeVFAT(t *testing.T, path string, size int64, files map[string]string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w, err := vfat.NewWriter(f, vfat.Options{Size: size, Label: "TEST"})
	if err != nil {
		t.Fatal(err)
	}
	for p, body := range files {
		if err := w.Create(p, int64(len(body)), strings.NewReader(body), false); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// testImages builds the partition and volume images of the test disk once
// per test binary: name -> image file.
func testImages(t *testing.T, dir string) map[string]string {
	t.Helper()
	img := func(name string) string { return filepath.Join(dir, name+".img") }
	makeVFAT(t, img("esp"), 4<<20, map[string]string{"EFI/BOOT/BOOTX64.EFI": "efi"})
	makeVFAT(t, img("grub"), 4<<20, map[string]string{
		"grub.cfg": "set root=A\nlinux /vmlinuz dfinity.system=A\n",
		"grubenv":  strings.Repeat("#", 1024),
	})
	makeExt4(t, img("A_boot"), 4<<20, []tarEntry{
		{name: "version.txt", body: testVersion},
		{name: "vmlinuz-6.1.0", body: "not a kernel"},
		{name: "initrd.img-6.1.0", body: "not an initrd"},
	})
	makeExt4(t, img("A_root"), 8<<20, []tarEntry{
		{name: "boot/"},
		{name: "etc/"},
		{name: "etc/hostname", body: "test-os\n"},
		{name: "etc/shadow", body: "root:*:19000:0:99999:7:::\nnobody:!:19000::::::\n", mode: 0o640},
		{name: "usr/"}, {name: "usr/bin/"}, {name: "usr/lib/"}, {name: "usr/lib/systemd/"},
		{name: "usr/bin/hello", body: "#!/bin/sh\necho hello\n", mode: 0o755},
		{name: "usr/bin/hi", link: "hello"},
		{name: "usr/lib/systemd/systemd", body: "not systemd", mode: 0o755},
	})
	makeExt4(t, img("config"), 8<<20, []tarEntry{{name: "config.ini", body: "[x]\n"}})
	vols, err := lvm.ParseVolumes(strings.NewReader(testVolumes), "volumes.csv", lvm.DefaultExtentSize)
	if err != nil {
		t.Fatal(err)
	}
	layout, err := lvm.Plan(lvm.Config{
		Size: 24 << 20, VGName: "hostlvm", VGUUID: "0fA9cE-2bD4-4eF6-8gH1-3iJ5-7kL9-mN2oP4",
		PVUUID: "1qR3sT-5uV7-9wX2-4yZ6-8aB1-3cD5-eF7gH9", CreationHost: "test", PVDevice: "/dev/sda6", Volumes: vols,
	})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(img("hostlvm"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := layout.Write(f, map[string]string{"config": img("config")}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "version.txt"), []byte(testVersion), 0o644); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"esp": img("esp"), "grub": img("grub"), "A_boot": img("A_boot"), "A_root": img("A_root"),
		"hostlvm": img("hostlvm"),
	}
}

// writeOutputs writes disk-img.tar.zst and update-img.tar.zst (each with
// its .sha256) of the partition images to dir, as icos_build does.
func writeOutputs(t *testing.T, dir string, images map[string]string, update map[string]string) {
	t.Helper()
	spec, err := gpt.Parse(strings.NewReader(testParts), "partitions.csv")
	if err != nil {
		t.Fatal(err)
	}
	table, err := gpt.Layout(spec, testDiskSize, "")
	if err != nil {
		t.Fatal(err)
	}
	raw := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := gpt.Assemble(f, table, images); err != nil {
		t.Fatal(err)
	}
	if err := pack.Pack(filepath.Join(dir, "disk-img.tar.zst"), []string{raw}, pack.Options{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
	upd := t.TempDir()
	var files []string
	for name, src := range update {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(upd, name)
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	if err := pack.Pack(filepath.Join(dir, "update-img.tar.zst"), files, pack.Options{Concurrency: 1}); err != nil {
		t.Fatal(err)
	}
}

// testSpec is the spec of the image writeOutputs makes, with paths
// relative to the output directory.
func testSpec() *Spec {
	size := int64(1024)
	equals := "test-os\n"
	return &Spec{
		Name: "test",
		Disk: Disk{Archive: "disk-img.tar.zst", Entry: "disk.img", Size: testDiskSize, MaxAllocated: testDiskSize / 2},
		Partitions: []Partition{
			{Name: "esp", Kind: KindVFAT},
			{Name: "grub", Kind: KindVFAT},
			{Name: "A_boot", Kind: KindExt4},
			{Name: "A_root", Kind: KindExt4},
			{Name: "A_var", Kind: KindEmpty},
			{Name: "hostlvm", Kind: KindLVM, Volumes: []Partition{
				{Name: "config", Kind: KindExt4},
				{Name: "guestos", Kind: KindEmpty},
			}},
		},
		Files: []File{
			{FS: "esp", Dir: "/EFI/BOOT", HasPrefix: "BOOTX64"},
			{FS: "grub", Path: "/grub.cfg", Contains: "dfinity.system="},
			{FS: "grub", Path: "/grubenv", Size: &size},
			{FS: "A_boot", Path: "/version.txt", EqualsFile: "version.txt"},
			{FS: "A_boot", Dir: "/", HasPrefix: "vmlinuz-"},
			{FS: "A_boot", Dir: "/", HasPrefix: "initrd.img-"},
			{FS: "A_root", Path: "/etc/hostname", Equals: &equals},
			{FS: "A_root", Path: "/usr/lib/systemd/systemd", Type: "regular"},
			{FS: "A_root", Path: "/usr/bin/hello", Mode: "0755"},
			{FS: "A_root", Path: "/usr/bin/hi", Symlink: "hello"},
			{FS: "A_root", Dir: "/boot", LacksPrefix: "vmlinuz"},
			{FS: "config", Path: "/config.ini", Contains: "[x]"},
		},
		Shadow: &Shadow{FS: "A_root", User: "root", Locked: true},
		Update: &Update{Archive: "update-img.tar.zst", Entries: map[string]Entry{
			"VERSION.TXT": {EqualsFile: "version.txt"},
			"boot.img":    {Partition: "A_boot"},
			"root.img":    {Partition: "A_root"},
		}},
	}
}

func TestCheck(t *testing.T) {
	imgDir := t.TempDir()
	images := testImages(t, imgDir)
	version := filepath.Join(imgDir, "version.txt")
	goodUpdate := map[string]string{"VERSION.TXT": version, "boot.img": images["A_boot"], "root.img": images["A_root"]}

	// copyImage copies a partition image to a new file and applies change.
	copyImage := func(t *testing.T, src string, change func(b []byte)) string {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		change(b)
		p := filepath.Join(t.TempDir(), filepath.Base(src))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		// change alters the images, update entries, spec or written
		// outputs of the good image.
		images func(t *testing.T, images, update map[string]string)
		spec   func(s *Spec)
		after  func(t *testing.T, dir string)
		want   []string // substrings of the error; none: the image passes
	}{
		{name: "good"},
		{
			name: "flipped superblock byte",
			images: func(t *testing.T, images, update map[string]string) {
				images["A_root"] = copyImage(t, images["A_root"], func(b []byte) { b[1024+0x38] ^= 0xff }) // s_magic
			},
			want: []string{"A_root: e2fsck -fn", "Bad magic number in super-block",
				"A_root:/etc/hostname: not checked: A_root failed its fsck",
				"update archive update-img.tar.zst: entry root.img differs from partition A_root"},
		},
		{
			name: "empty partition not empty",
			images: func(t *testing.T, images, update map[string]string) {
				p := filepath.Join(t.TempDir(), "A_var.img")
				if err := os.WriteFile(p, bytes.Repeat([]byte("var"), 1000), 0o644); err != nil {
					t.Fatal(err)
				}
				images["A_var"] = p
			},
			want: []string{"A_var: not empty"},
		},
		{
			name: "empty volume not empty",
			spec: func(s *Spec) { s.Partitions[5].Volumes[0].Kind = KindEmpty; s.Files = s.Files[:11] },
			want: []string{"config: not empty"},
		},
		{
			name: "wrong file content",
			spec: func(s *Spec) {
				other := "other-os\n"
				s.Files[6].Equals = &other
				s.Files[1].Contains = "dfinity.system=B"
			},
			want: []string{`A_root:/etc/hostname: content "test-os\n", want "other-os\n"`, `grub:/grub.cfg: does not contain "dfinity.system=B"`},
		},
		{
			name: "wrong metadata",
			spec: func(s *Spec) {
				s.Files[8].Mode = "0644"
				s.Files[9].Symlink = "bye"
				s.Files[10].LacksPrefix = ""
				s.Files[10].HasPrefix = "vmlinuz"
			},
			want: []string{`A_root:/usr/bin/hello: mode "0755", want "0644"`, `A_root:/usr/bin/hi: symlink to "hello", want "bye"`, "A_root:/boot: no entry named vmlinuz*"},
		},
		{
			name: "missing file",
			spec: func(s *Spec) { s.Files[3].Path = "/nope.txt"; s.Files[2].Path = "/nope" },
			want: []string{"A_boot:/nope.txt: debugfs cat \"/nope.txt\": /nope.txt: File not found", "grub:/nope: mtype"},
		},
		{
			name: "dev password in prod",
			spec: func(s *Spec) { s.Shadow = &Shadow{FS: "A_root", User: "root", Hash: devHash} },
			want: []string{`A_root:/etc/shadow: root has the password field "*", want "` + devHash + `"`},
		},
		{
			name: "partition missing from the spec",
			spec: func(s *Spec) { s.Partitions = append(s.Partitions[:4:4], s.Partitions[5]) },
			want: []string{"disk: partitions esp,grub,A_boot,A_root,A_var,hostlvm, want esp,grub,A_boot,A_root,hostlvm; not in the spec: A_var"},
		},
		{
			name: "volume missing from the disk",
			spec: func(s *Spec) {
				s.Partitions[5].Volumes = append(s.Partitions[5].Volumes, Partition{Name: "B_var", Kind: KindEmpty})
			},
			want: []string{"hostlvm: logical volumes config,guestos, want config,guestos,B_var; missing: B_var"},
		},
		{
			name: "not sparse",
			spec: func(s *Spec) { s.Disk.MaxAllocated = 4096; s.Disk.Size++ },
			want: []string{"disk: disk.img allocates", "disk: disk.img is 67108864 bytes, want 67108865"},
		},
		{
			name: "no disk image in the archive",
			spec: func(s *Spec) { s.Disk.Entry = "other.img" },
			want: []string{"disk: tar --zstd -xf", "other.img: Not found in archive", "disk: no disk image: partitions, files and shadow not checked",
				"update archive update-img.tar.zst: entry boot.img not checked: no partition A_boot cut out of the disk"},
		},
		{
			// Bazel hands a test its inputs as symbolic links (runfiles),
			// which some tools (zstd) refuse unless told the real file.
			name: "outputs are symlinks",
			after: func(t *testing.T, dir string) {
				real := t.TempDir()
				ents, err := os.ReadDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range ents {
					from, to := filepath.Join(dir, e.Name()), filepath.Join(real, e.Name())
					if err := os.Rename(from, to); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(to, from); err != nil {
						t.Fatal(err)
					}
				}
			},
		},
		{
			name: "wrong sha256",
			after: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "disk-img.tar.zst.sha256")
				b, _ := os.ReadFile(p)
				b[0] ^= 1
				if err := os.WriteFile(p, b, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"disk archive disk-img.tar.zst: checksum: sha256sum"},
		},
		{
			name: "truncated zst",
			after: func(t *testing.T, dir string) {
				p := filepath.Join(dir, "update-img.tar.zst")
				st, _ := os.Stat(p)
				if err := os.Truncate(p, st.Size()-100); err != nil {
					t.Fatal(err)
				}
			},
			want: []string{"update archive update-img.tar.zst: checksum", "update archive update-img.tar.zst: zstd -q -t"},
		},
		{
			name: "wrong update entry",
			images: func(t *testing.T, images, update map[string]string) {
				update["root.img"] = images["A_boot"]
			},
			want: []string{"update archive update-img.tar.zst: entry root.img differs from partition A_root"},
		},
		{
			name: "extra update entry",
			images: func(t *testing.T, images, update map[string]string) {
				update["extra.img"] = images["A_boot"]
			},
			want: []string{"update archive update-img.tar.zst: holds VERSION.TXT boot.img extra.img root.img, want VERSION.TXT boot.img root.img"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			imgs := map[string]string{}
			for k, v := range images {
				imgs[k] = v
			}
			upd := map[string]string{}
			for k, v := range goodUpdate {
				upd[k] = v
			}
			if tc.images != nil {
				tc.images(t, imgs, upd)
			}
			dir := t.TempDir()
			writeOutputs(t, dir, imgs, upd)
			if err := os.WriteFile(filepath.Join(dir, "version.txt"), []byte(testVersion), 0o644); err != nil {
				t.Fatal(err)
			}
			if tc.after != nil {
				tc.after(t, dir)
			}
			spec := testSpec()
			if tc.spec != nil {
				tc.spec(spec)
			}
			var log bytes.Buffer
			err := Check(spec, dir, t.TempDir(), &log)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("Check: %v\nlog:\n%s", err, log.String())
				}
				for _, line := range []string{"ok A_root: e2fsck -fn\n", "ok config: e2fsck -fn\n", "ok esp: fsck.vfat -n\n",
					"ok guestos: empty\n", "ok hostlvm: pvck --dump metadata\n", "ok update archive update-img.tar.zst: root.img equals partition A_root\n"} {
					if !strings.Contains(log.String(), line) {
						t.Errorf("log lacks %q:\n%s", line, log.String())
					}
				}
				return
			}
			if err == nil {
				t.Fatalf("Check passed, want errors %q\nlog:\n%s", tc.want, log.String())
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
		})
	}
}
