// Package vm boots IC-OS disk images in QEMU: for people (icos vm run,
// the serial console on the terminal) and for boot tests (the serial
// console read by Go code through a Console).
//
// The machine is a q35 PC with OVMF (UEFI) firmware: the firmware code is
// mapped read-only, its variable store is a per-VM copy. The main disk is a
// virtio-blk device; extra drives can be attached as USB storage, NVMe or
// virtio-blk with a serial number, as the IC attaches its config disk.
// There is no display, no monitor and no default device (-nodefaults):
// the serial port is the only console. User-mode networking (virtio-net)
// is on unless disabled, with optional host port forwards bound to
// 127.0.0.1.
//
// The build output is never booted: the disk given (a disk-img.tar.zst as
// icos disk and icos pack write it, a .tar holding disk.img, or a raw
// image) is copied, keeping holes, into a working directory. That directory
// is temporary and removed when QEMU ends (and, through package outfile,
// when a signal ends the process); with Config.KeepDir the working disk
// stays, so a test can change it and boot it again.
//
// Acceleration: KVM is used only when a short probe guest (q35 + OVMF, as
// the real one) really runs under it; on hosts where KVM_CREATE_VM
// succeeds but the guest dies at once ("KVM internal error ... emulation
// failure", or QEMU aborting on an MSR) the VM falls back to TCG with
// -cpu max, saying so on Config.Stderr.
package vm

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/icos-build/icos/tools/outfile"
	"github.com/icos-build/icos/tools/size"
)

// Defaults of Config.
const (
	DefaultQEMU         = "qemu-system-x86_64"
	DefaultFirmwareCode = "/usr/share/OVMF/OVMF_CODE_4M.fd"
	DefaultFirmwareVars = "/usr/share/OVMF/OVMF_VARS_4M.fd"
	// DefaultMemory is the guest RAM: enough for a Debian kernel and
	// initramfs-tools to boot GuestOS to a login prompt, small enough for
	// several test VMs on one machine.
	DefaultMemory = 2 << 30
	DefaultCPUs   = 2
)

// Names of the files in the working directory.
const (
	DiskName = "disk.img"     // the working copy of the main disk
	VarsName = "OVMF_VARS.fd" // the VM's UEFI variable store
)

// Accel selects the accelerator.
type Accel string

// Accelerators. The zero value is AccelAuto.
const (
	AccelAuto Accel = "auto" // KVM if the probe guest runs under it, else TCG
	AccelKVM  Accel = "kvm"  // KVM, -cpu host; no probe
	AccelTCG  Accel = "tcg"  // TCG, -cpu max
)

// ParseAccel parses "auto", "kvm" or "tcg".
func ParseAccel(s string) (Accel, error) {
	switch a := Accel(s); a {
	case AccelAuto, AccelKVM, AccelTCG:
		return a, nil
	}
	return "", fmt.Errorf("vm: accelerator %q: want auto, kvm or tcg", s)
}

// Interface is the bus an extra drive is attached to.
type Interface string

// Interfaces of extra drives.
const (
	USB    Interface = "usb"    // usb-storage on a qemu-xhci controller
	NVMe   Interface = "nvme"   // an NVMe controller (needs a serial)
	Virtio Interface = "virtio" // another virtio-blk device
)

// Drive is an extra drive: a raw image file.
type Drive struct {
	Interface Interface
	// Serial is the serial number the guest sees (for USB storage:
	// /dev/disk/by-id/usb-QEMU_QEMU_HARDDISK_<Serial>-0:0). Required
	// for NVMe.
	Serial string
	File   string
	// Writable makes the guest's writes go to File. Otherwise File is
	// opened with snapshot=on: the guest may write, but its writes go to
	// a throwaway overlay and File is never changed.
	Writable bool
	// BootIndex, if positive, is the device's bootindex (lower boots
	// first; devices with one come before those without).
	BootIndex int
}

// Forward is a host port forwarded to a guest port (user networking). The
// host side listens on 127.0.0.1 only.
type Forward struct {
	Proto     string // "tcp" or "udp"
	HostPort  int
	GuestPort int
}

// ParseForward parses "tcp:HOSTPORT:GUESTPORT" (or udp:...).
func ParseForward(s string) (Forward, error) {
	parts := strings.Split(s, ":")
	var f Forward
	if len(parts) != 3 || (parts[0] != "tcp" && parts[0] != "udp") {
		return f, fmt.Errorf("vm: forward %q: want tcp:HOSTPORT:GUESTPORT or udp:HOSTPORT:GUESTPORT", s)
	}
	f.Proto = parts[0]
	for i, p := range []*int{&f.HostPort, &f.GuestPort} {
		n, err := parsePort(parts[i+1])
		if err != nil {
			return f, fmt.Errorf("vm: forward %q: %w", s, err)
		}
		*p = n
	}
	return f, nil
}

func parsePort(s string) (int, error) {
	n := 0
	for _, c := range s {
		if c < '0' || c > '9' || n > 65535 {
			return 0, fmt.Errorf("port %q: want 1..65535", s)
		}
		n = n*10 + int(c-'0')
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %q: want 1..65535", s)
	}
	return n, nil
}

// ParseDrive parses "INTERFACE:SERIAL:FILE" (usb, nvme or virtio; the
// serial may be empty except for nvme; FILE may contain colons).
func ParseDrive(s string) (Drive, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[2] == "" {
		return Drive{}, fmt.Errorf("vm: drive %q: want INTERFACE:SERIAL:FILE, INTERFACE usb, nvme or virtio", s)
	}
	d := Drive{Interface: Interface(parts[0]), Serial: parts[1], File: parts[2]}
	if err := d.check(); err != nil {
		return Drive{}, err
	}
	return d, nil
}

// check validates the drive's fields (not the file).
func (d Drive) check() error {
	switch d.Interface {
	case USB, NVMe, Virtio:
	default:
		return fmt.Errorf("vm: drive %s: interface %q: want usb, nvme or virtio", d.File, d.Interface)
	}
	if d.Interface == NVMe && d.Serial == "" {
		return fmt.Errorf("vm: drive %s: an nvme drive needs a serial", d.File)
	}
	if strings.ContainsAny(d.Serial, ",=") || strings.ContainsAny(d.Serial, "\x00\n") {
		return fmt.Errorf("vm: drive %s: serial %q: no ',', '=' or control characters", d.File, d.Serial)
	}
	if d.File == "" {
		return errors.New("vm: drive without a file")
	}
	if d.BootIndex < 0 {
		return fmt.Errorf("vm: drive %s: negative boot index", d.File)
	}
	return nil
}

// Config describes a VM.
type Config struct {
	// Disk is the main disk: a disk-img.tar.zst (or .tar) holding one
	// file disk.img, or a raw image. It is copied, never written. It may
	// be empty when KeepDir holds the working disk of an earlier run.
	Disk string
	// KeepDir, if set, is the working directory, kept after the VM ends:
	// it holds disk.img (the working disk, raw and sparse, which a test
	// may change between boots) and OVMF_VARS.fd. If it already holds
	// disk.img, that disk boots again and Disk must be empty. Otherwise
	// the working directory is a temporary one, removed at the end.
	KeepDir string
	// TempDir is where the temporary working directory is made
	// (default: $TMPDIR or /tmp).
	TempDir string

	Drives []Drive
	Memory int64 // bytes, a multiple of 1 MiB; 0 means DefaultMemory
	CPUs   int   // 0 means DefaultCPUs
	Accel  Accel // "" means AccelAuto

	NoNetwork bool      // no network device at all
	Forwards  []Forward // host ports forwarded to the guest
	NoReboot  bool      // exit instead of rebooting (-no-reboot)

	// Terminal puts the serial console on this process's standard input
	// and output, multiplexed with QEMU's monitor (-serial mon:stdio:
	// Ctrl-A X quits, Ctrl-A C switches to the monitor, Ctrl-A H lists
	// the keys). Otherwise the console is VM.Console.
	Terminal bool
	// ConsoleLog, if set, is a file that every byte of console output is
	// appended to (not with Terminal).
	ConsoleLog string

	QEMU         string    // QEMU binary; default DefaultQEMU (looked up in PATH)
	FirmwareCode string    // default DefaultFirmwareCode
	FirmwareVars string    // template of the variable store; default DefaultFirmwareVars
	Stderr       io.Writer // QEMU's standard error and our notices; default os.Stderr
}

// withDefaults returns c with its defaults filled in.
func (c Config) withDefaults() Config {
	if c.Memory == 0 {
		c.Memory = DefaultMemory
	}
	if c.CPUs == 0 {
		c.CPUs = DefaultCPUs
	}
	if c.Accel == "" {
		c.Accel = AccelAuto
	}
	if c.QEMU == "" {
		c.QEMU = DefaultQEMU
	}
	if c.FirmwareCode == "" {
		c.FirmwareCode = DefaultFirmwareCode
	}
	if c.FirmwareVars == "" {
		c.FirmwareVars = DefaultFirmwareVars
	}
	if c.Stderr == nil {
		c.Stderr = os.Stderr
	}
	return c
}

// check validates c (after withDefaults), without touching files.
func (c Config) check() error {
	if c.Disk == "" && c.KeepDir == "" {
		return errors.New("vm: no disk given")
	}
	if c.Memory < 1<<20 || c.Memory%(1<<20) != 0 {
		return fmt.Errorf("vm: memory %s: want a positive multiple of 1 MiB", size.Format(c.Memory))
	}
	if c.CPUs < 1 {
		return fmt.Errorf("vm: %d CPUs: want at least 1", c.CPUs)
	}
	if _, err := ParseAccel(string(c.Accel)); err != nil {
		return err
	}
	for _, d := range c.Drives {
		if err := d.check(); err != nil {
			return err
		}
	}
	for _, f := range c.Forwards {
		if (f.Proto != "tcp" && f.Proto != "udp") || f.HostPort < 1 || f.HostPort > 65535 || f.GuestPort < 1 || f.GuestPort > 65535 {
			return fmt.Errorf("vm: forward %+v: want tcp or udp and ports 1..65535", f)
		}
	}
	if c.NoNetwork && len(c.Forwards) > 0 {
		return errors.New("vm: port forwards need the network")
	}
	if c.Terminal && c.ConsoleLog != "" {
		return errors.New("vm: a console log needs the console on a pipe, not the terminal")
	}
	return nil
}

// VM is a running QEMU.
type VM struct {
	// Console is the serial console (nil with Config.Terminal).
	Console *Console
	// Accel is the accelerator in use: AccelKVM or AccelTCG.
	Accel Accel
	// Dir is the working directory (KeepDir, or the temporary one).
	Dir string
	// Args is QEMU's command line.
	Args []string

	cmd     *exec.Cmd
	tmp     *outfile.Dir // nil when the directory is kept
	stderr  *tailBuffer
	done    chan struct{}
	status  int
	waitErr error
	killed  sync.Once
}

// Start prepares the working disk and starts QEMU. With Config.Accel auto
// it first probes KVM (once per process and QEMU binary, see ProbeKVM),
// while the disk is being copied.
func Start(cfg Config) (*VM, error) {
	c := cfg.withDefaults()
	if err := c.check(); err != nil {
		return nil, err
	}
	qemu, err := exec.LookPath(c.QEMU)
	if err != nil {
		return nil, fmt.Errorf("vm: %s not found (install the Debian package qemu-system-x86): %w", c.QEMU, err)
	}
	for _, f := range []string{c.FirmwareCode, c.FirmwareVars} {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("vm: firmware (install the Debian package ovmf): %w", err)
		}
	}
	for _, d := range c.Drives {
		if _, err := os.Stat(d.File); err != nil {
			return nil, fmt.Errorf("vm: drive: %w", err)
		}
	}

	var probe chan KVMProbe
	if c.Accel == AccelAuto {
		probe = make(chan KVMProbe, 1)
		go func() { probe <- probeKVMCached(qemu, c.FirmwareCode, c.FirmwareVars) }()
	}

	v := &VM{done: make(chan struct{}), stderr: &tailBuffer{max: tailSize}}
	fail := func(err error) (*VM, error) {
		if probe != nil {
			<-probe
		}
		if v.tmp != nil {
			v.tmp.Abort()
		}
		return nil, err
	}
	if c.KeepDir != "" {
		if err := os.MkdirAll(c.KeepDir, 0o755); err != nil {
			return fail(fmt.Errorf("vm: %w", err))
		}
		v.Dir = c.KeepDir
	} else {
		if v.tmp, err = outfile.MkdirTemp(c.TempDir, "icos-vm-"); err != nil {
			return fail(err)
		}
		v.Dir = v.tmp.Name()
	}
	disk := filepath.Join(v.Dir, DiskName)
	switch _, err := os.Stat(disk); {
	case err == nil && c.Disk != "":
		return fail(fmt.Errorf("vm: %s holds a working disk already: give no disk to boot it again, or remove it", v.Dir))
	case err == nil:
	case !errors.Is(err, os.ErrNotExist):
		return fail(fmt.Errorf("vm: %w", err))
	case c.Disk == "":
		return fail(fmt.Errorf("vm: %s holds no %s to boot again and no disk is given", v.Dir, DiskName))
	case v.tmp == nil:
		if err := CopyDisk(disk, c.Disk); err != nil {
			return fail(err)
		}
	default:
		if err := copyDiskScratch(disk, c.Disk); err != nil {
			return fail(err)
		}
	}
	vars := filepath.Join(v.Dir, VarsName)
	if _, err := os.Stat(vars); errors.Is(err, os.ErrNotExist) {
		if err := copyFile(vars, c.FirmwareVars); err != nil {
			return fail(err)
		}
	} else if err != nil {
		return fail(fmt.Errorf("vm: %w", err))
	}

	v.Accel = c.Accel
	if probe != nil {
		p := <-probe
		probe = nil
		if p.Usable {
			v.Accel = AccelKVM
		} else {
			v.Accel = AccelTCG
			fmt.Fprintf(c.Stderr, "vm: KVM is not usable here (%s); using TCG (-accel tcg -cpu max), which is several times slower\n", p.Reason)
		}
	}
	v.Args, err = qemuArgs(c, v.Accel, disk, vars)
	if err != nil {
		return fail(err)
	}
	if err := v.start(c, qemu); err != nil {
		return fail(err)
	}
	return v, nil
}

// start runs QEMU with v.Args and starts the goroutines that copy its
// standard error, read the console and wait for it.
func (v *VM) start(c Config, qemu string) error {
	cmd := exec.Command(qemu, v.Args[1:]...)
	// QEMU ends (cleanly: it restores the terminal) when this process
	// dies, also when a signal handler exits without waiting for it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	errR, errW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("vm: %w", err)
	}
	cmd.Stderr = errW
	var toGuest, fromGuest, childIn, childOut *os.File
	var log *os.File
	closeAll := func() {
		for _, f := range []*os.File{errR, errW, toGuest, fromGuest, childIn, childOut, log} {
			if f != nil {
				f.Close()
			}
		}
	}
	if c.Terminal {
		cmd.Stdin, cmd.Stdout = os.Stdin, os.Stdout
	} else {
		if childIn, toGuest, err = os.Pipe(); err == nil {
			fromGuest, childOut, err = os.Pipe()
		}
		if err == nil && c.ConsoleLog != "" {
			log, err = os.OpenFile(c.ConsoleLog, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		}
		if err != nil {
			closeAll()
			return fmt.Errorf("vm: %w", err)
		}
		cmd.Stdin, cmd.Stdout = childIn, childOut
	}
	if err := cmd.Start(); err != nil {
		closeAll()
		return fmt.Errorf("vm: %w", err)
	}
	v.cmd = cmd
	for _, f := range []*os.File{errW, childIn, childOut} {
		if f != nil {
			f.Close()
		}
	}
	stderrDone := make(chan struct{})
	go func() {
		io.Copy(io.MultiWriter(c.Stderr, v.stderr), errR)
		errR.Close()
		close(stderrDone)
	}()
	if !c.Terminal {
		var logW io.Writer
		if log != nil {
			logW = log
		}
		v.Console = newConsole(fromGuest, toGuest, logW, func() {
			fromGuest.Close()
			if log != nil {
				log.Close()
			}
		}, v.exitNote)
	}
	go func() {
		err := cmd.Wait()
		<-stderrDone
		v.status, v.waitErr = exitStatus(err)
		if toGuest != nil {
			toGuest.Close()
		}
		if v.tmp != nil {
			v.tmp.Abort()
		}
		close(v.done)
	}()
	return nil
}

// exitStatus turns the error of exec.Cmd.Wait into an exit status: QEMU's,
// or 128+N when signal N ended it.
func exitStatus(err error) (int, error) {
	if err == nil {
		return 0, nil
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return -1, fmt.Errorf("vm: waiting for QEMU: %w", err)
}

// exitNote describes how QEMU ended, for the console's end-of-output
// errors: its status and the end of its standard error. It waits a moment
// for QEMU to be reaped, as the console ends just before.
func (v *VM) exitNote() string {
	select {
	case <-v.done:
	case <-time.After(2 * time.Second):
		return "QEMU closed the console but has not exited"
	}
	note := fmt.Sprintf("QEMU exited with status %d", v.status)
	if t := strings.TrimSpace(string(v.stderr.bytes())); t != "" {
		note += "; its standard error ends with:\n" + quoteTail([]byte(t))
	}
	return note
}

// Wait waits for QEMU to exit and returns its exit status (128+N if signal
// N ended it). The temporary working directory is removed by then. Wait
// may be called more than once.
func (v *VM) Wait() (int, error) {
	<-v.done
	return v.status, v.waitErr
}

// Done is closed when QEMU has exited.
func (v *VM) Done() <-chan struct{} { return v.done }

// Kill ends QEMU at once (SIGKILL) and waits for it.
func (v *VM) Kill() error {
	v.killed.Do(func() {
		select {
		case <-v.done:
		default:
			v.cmd.Process.Kill()
		}
	})
	_, err := v.Wait()
	return err
}

// Stderr returns the end (up to 2 KiB) of QEMU's standard error so far.
func (v *VM) Stderr() string { return string(v.stderr.bytes()) }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]byte(nil), t.b...)
}
