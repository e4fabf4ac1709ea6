package vm

import (
	"fmt"
	"strconv"
	"strings"
)

// qemuArgs returns QEMU's command line (argv, the binary first) for c
// (with its defaults) under accel (AccelKVM or AccelTCG), booting the
// working disk with the variable store vars.
func qemuArgs(c Config, accel Accel, disk, vars string) ([]string, error) {
	for _, f := range []string{c.FirmwareCode, vars, disk} {
		if strings.Contains(f, ",") {
			return nil, fmt.Errorf("vm: %s: QEMU cannot take a file name with a comma", f)
		}
	}
	for _, d := range c.Drives {
		if strings.Contains(d.File, ",") {
			return nil, fmt.Errorf("vm: drive %s: QEMU cannot take a file name with a comma", d.File)
		}
	}
	a := []string{c.QEMU, "-nodefaults", "-machine", "q35"}
	switch accel {
	case AccelKVM:
		a = append(a, "-accel", "kvm", "-cpu", "host")
	case AccelTCG:
		a = append(a, "-accel", "tcg", "-cpu", "max")
	default:
		return nil, fmt.Errorf("vm: accelerator %q: want kvm or tcg", accel)
	}
	a = append(a,
		"-m", strconv.FormatInt(c.Memory>>20, 10)+"M",
		"-smp", strconv.Itoa(c.CPUs),
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+c.FirmwareCode,
		"-drive", "if=pflash,format=raw,unit=1,file="+vars,
		"-drive", "if=none,id=disk,format=raw,cache=unsafe,discard=unmap,file="+disk,
		"-device", "virtio-blk-pci,drive=disk",
	)
	xhci := false
	for i, d := range c.Drives {
		id := "drive" + strconv.Itoa(i)
		opts := "if=none,id=" + id + ",format=raw,file=" + d.File
		if !d.Writable {
			opts += ",snapshot=on"
		}
		var dev string
		switch d.Interface {
		case USB:
			if !xhci {
				a = append(a, "-device", "qemu-xhci,id=xhci")
				xhci = true
			}
			dev = "usb-storage,bus=xhci.0,drive=" + id
		case NVMe:
			dev = "nvme,drive=" + id
		case Virtio:
			dev = "virtio-blk-pci,drive=" + id
		default:
			return nil, fmt.Errorf("vm: drive %s: interface %q: want usb, nvme or virtio", d.File, d.Interface)
		}
		if d.Serial != "" {
			dev += ",serial=" + d.Serial
		}
		if d.BootIndex > 0 {
			dev += ",bootindex=" + strconv.Itoa(d.BootIndex)
		}
		a = append(a, "-drive", opts, "-device", dev)
	}
	if !c.NoNetwork {
		netdev := "user,id=net0"
		for _, f := range c.Forwards {
			netdev += fmt.Sprintf(",hostfwd=%s:127.0.0.1:%d-:%d", f.Proto, f.HostPort, f.GuestPort)
		}
		a = append(a, "-netdev", netdev, "-device", "virtio-net-pci,netdev=net0")
	}
	a = append(a, "-display", "none", "-monitor", "none")
	if c.Terminal {
		a = append(a, "-serial", "mon:stdio")
	} else {
		a = append(a, "-serial", "stdio")
	}
	if c.NoReboot {
		a = append(a, "-no-reboot")
	}
	return a, nil
}
