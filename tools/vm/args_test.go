package vm

import (
	"strings"
	"testing"
)

func TestQEMUArgs(t *testing.T) {
	const (
		code = "/fw/CODE.fd"
		vars = "/w/OVMF_VARS.fd"
		disk = "/w/disk.img"
	)
	firmware := []string{
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + code,
		"-drive", "if=pflash,format=raw,unit=1,file=" + vars,
		"-drive", "if=none,id=disk,format=raw,cache=unsafe,discard=unmap,file=" + disk,
		"-device", "virtio-blk-pci,drive=disk",
	}
	net := []string{"-netdev", "user,id=net0", "-device", "virtio-net-pci,netdev=net0"}
	join := func(parts ...[]string) []string {
		var a []string
		for _, p := range parts {
			a = append(a, p...)
		}
		return a
	}
	for _, tc := range []struct {
		name  string
		cfg   Config
		accel Accel
		want  []string
	}{
		{
			name:  "defaults under TCG",
			accel: AccelTCG,
			want: join([]string{"qemu-system-x86_64", "-nodefaults", "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "2048M", "-smp", "2"},
				firmware, net, []string{"-display", "none", "-monitor", "none", "-serial", "stdio"}),
		},
		{
			name:  "KVM, terminal, no reboot, memory and CPUs",
			cfg:   Config{Memory: 4 << 30, CPUs: 4, Terminal: true, NoReboot: true, QEMU: "/opt/qemu"},
			accel: AccelKVM,
			want: join([]string{"/opt/qemu", "-nodefaults", "-machine", "q35", "-accel", "kvm", "-cpu", "host", "-m", "4096M", "-smp", "4"},
				firmware, net, []string{"-display", "none", "-monitor", "none", "-serial", "mon:stdio", "-no-reboot"}),
		},
		{
			name: "drives: two USB on one controller, NVMe, virtio; writable and boot index",
			cfg: Config{Drives: []Drive{
				{Interface: USB, Serial: "config", File: "/c/config.img"},
				{Interface: NVMe, Serial: "nvme0", File: "/c/target.img", Writable: true},
				{Interface: USB, File: "/c/stick.img", BootIndex: 1},
				{Interface: Virtio, Serial: "data", File: "/c/data.img"},
			}},
			accel: AccelTCG,
			want: join([]string{"qemu-system-x86_64", "-nodefaults", "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "2048M", "-smp", "2"},
				firmware,
				[]string{
					"-device", "qemu-xhci,id=xhci",
					"-drive", "if=none,id=drive0,format=raw,file=/c/config.img,snapshot=on",
					"-device", "usb-storage,bus=xhci.0,drive=drive0,serial=config",
					"-drive", "if=none,id=drive1,format=raw,file=/c/target.img",
					"-device", "nvme,drive=drive1,serial=nvme0",
					"-drive", "if=none,id=drive2,format=raw,file=/c/stick.img,snapshot=on",
					"-device", "usb-storage,bus=xhci.0,drive=drive2,bootindex=1",
					"-drive", "if=none,id=drive3,format=raw,file=/c/data.img,snapshot=on",
					"-device", "virtio-blk-pci,drive=drive3,serial=data",
				},
				net, []string{"-display", "none", "-monitor", "none", "-serial", "stdio"}),
		},
		{
			name:  "port forwards on 127.0.0.1",
			cfg:   Config{Forwards: []Forward{{"tcp", 2222, 22}, {"udp", 5353, 53}}},
			accel: AccelTCG,
			want: join([]string{"qemu-system-x86_64", "-nodefaults", "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "2048M", "-smp", "2"},
				firmware,
				[]string{"-netdev", "user,id=net0,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp:127.0.0.1:5353-:53", "-device", "virtio-net-pci,netdev=net0"},
				[]string{"-display", "none", "-monitor", "none", "-serial", "stdio"}),
		},
		{
			name:  "no network",
			cfg:   Config{NoNetwork: true, Memory: 512 << 20, CPUs: 1},
			accel: AccelTCG,
			want: join([]string{"qemu-system-x86_64", "-nodefaults", "-machine", "q35", "-accel", "tcg", "-cpu", "max", "-m", "512M", "-smp", "1"},
				firmware, []string{"-display", "none", "-monitor", "none", "-serial", "stdio"}),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.FirmwareCode = code
			c.Disk = "/build/disk-img.tar.zst"
			c = c.withDefaults()
			if err := c.check(); err != nil {
				t.Fatal(err)
			}
			got, err := qemuArgs(c, tc.accel, disk, vars)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("argv:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestQEMUArgsErrors(t *testing.T) {
	c := Config{}.withDefaults()
	for _, tc := range []struct {
		cfg   Config
		accel Accel
		disk  string
		want  string
	}{
		{c, AccelAuto, "/w/disk.img", `vm: accelerator "auto": want kvm or tcg`},
		{c, AccelTCG, "/w,x/disk.img", "vm: /w,x/disk.img: QEMU cannot take a file name with a comma"},
		{Config{Drives: []Drive{{Interface: USB, File: "a,b"}}}.withDefaults(), AccelTCG, "/w/disk.img", "vm: drive a,b: QEMU cannot take a file name with a comma"},
	} {
		if _, err := qemuArgs(tc.cfg, tc.accel, tc.disk, "/w/vars"); err == nil || err.Error() != tc.want {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string // "" for valid
	}{
		{Config{Disk: "d"}, ""},
		{Config{KeepDir: "k"}, ""},
		{Config{}, "vm: no disk given"},
		{Config{Disk: "d", Memory: 1<<30 + 1}, "vm: memory 1073741825: want a positive multiple of 1 MiB"},
		{Config{Disk: "d", Memory: -1 << 20}, "vm: memory -1048576: want a positive multiple of 1 MiB"},
		{Config{Disk: "d", CPUs: -1}, "vm: -1 CPUs: want at least 1"},
		{Config{Disk: "d", Accel: "hvf"}, `vm: accelerator "hvf": want auto, kvm or tcg`},
		{Config{Disk: "d", Drives: []Drive{{Interface: NVMe, File: "n"}}}, "vm: drive n: an nvme drive needs a serial"},
		{Config{Disk: "d", Drives: []Drive{{Interface: "sata", File: "n"}}}, `vm: drive n: interface "sata": want usb, nvme or virtio`},
		{Config{Disk: "d", Drives: []Drive{{Interface: USB, Serial: "a,b", File: "n"}}}, `vm: drive n: serial "a,b": no ',', '=' or control characters`},
		{Config{Disk: "d", Forwards: []Forward{{"sctp", 1, 2}}}, "vm: forward {Proto:sctp HostPort:1 GuestPort:2}: want tcp or udp and ports 1..65535"},
		{Config{Disk: "d", NoNetwork: true, Forwards: []Forward{{"tcp", 1, 2}}}, "vm: port forwards need the network"},
		{Config{Disk: "d", Terminal: true, ConsoleLog: "l"}, "vm: a console log needs the console on a pipe, not the terminal"},
	} {
		err := tc.cfg.withDefaults().check()
		if got := errString(err); got != tc.want {
			t.Errorf("%+v: error %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestParseDrive(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Drive
		err  string
	}{
		{"usb:config:/a/config.img", Drive{Interface: USB, Serial: "config", File: "/a/config.img"}, ""},
		{"nvme:n0:a:b.img", Drive{Interface: NVMe, Serial: "n0", File: "a:b.img"}, ""},
		{"virtio::d.img", Drive{Interface: Virtio, File: "d.img"}, ""},
		{"usb:config", Drive{}, `vm: drive "usb:config": want INTERFACE:SERIAL:FILE, INTERFACE usb, nvme or virtio`},
		{"usb:config:", Drive{}, `vm: drive "usb:config:": want INTERFACE:SERIAL:FILE, INTERFACE usb, nvme or virtio`},
		{"nvme::t.img", Drive{}, "vm: drive t.img: an nvme drive needs a serial"},
		{"ide:x:t.img", Drive{}, `vm: drive t.img: interface "ide": want usb, nvme or virtio`},
	} {
		got, err := ParseDrive(tc.in)
		if errString(err) != tc.err || got != tc.want {
			t.Errorf("ParseDrive(%q) = %+v, %v; want %+v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseForward(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Forward
		err  string
	}{
		{"tcp:2222:22", Forward{"tcp", 2222, 22}, ""},
		{"udp:65535:1", Forward{"udp", 65535, 1}, ""},
		{"tcp:2222", Forward{}, `vm: forward "tcp:2222": want tcp:HOSTPORT:GUESTPORT or udp:HOSTPORT:GUESTPORT`},
		{"icmp:1:2", Forward{}, `vm: forward "icmp:1:2": want tcp:HOSTPORT:GUESTPORT or udp:HOSTPORT:GUESTPORT`},
		{"tcp:0:22", Forward{}, `vm: forward "tcp:0:22": port "0": want 1..65535`},
		{"tcp:70000:22", Forward{}, `vm: forward "tcp:70000:22": port "70000": want 1..65535`},
		{"tcp:99999999999999999999:22", Forward{}, `vm: forward "tcp:99999999999999999999:22": port "99999999999999999999": want 1..65535`},
		{"tcp:22:x", Forward{}, `vm: forward "tcp:22:x": port "x": want 1..65535`},
		{"tcp::22", Forward{}, `vm: forward "tcp::22": port "": want 1..65535`},
	} {
		got, err := ParseForward(tc.in)
		if errString(err) != tc.err || (err == nil && got != tc.want) {
			t.Errorf("ParseForward(%q) = %+v, %v; want %+v, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestParseAccel(t *testing.T) {
	for _, s := range []string{"auto", "kvm", "tcg"} {
		if a, err := ParseAccel(s); err != nil || string(a) != s {
			t.Errorf("ParseAccel(%q) = %q, %v", s, a, err)
		}
	}
	if _, err := ParseAccel(""); err == nil {
		t.Error(`ParseAccel("") accepted`)
	}
}
