package vm

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/icos-build/icos/tools/outfile"
)

// ProbeTimeout bounds the KVM probe: a guest that has printed nothing on
// its serial console by then counts as not running. OVMF under a working
// KVM reaches its first console output in about a second; the failures seen
// (QEMU aborting on an MSR, "KVM internal error") show within milliseconds.
const ProbeTimeout = 10 * time.Second

// kvmDevice is the KVM device; a variable for the tests.
var kvmDevice = "/dev/kvm"

// KVMProbe is the outcome of ProbeKVM.
type KVMProbe struct {
	Usable bool
	Reason string        // why not, when not usable; how, when usable
	Took   time.Duration // how long the probe ran
}

// ProbeKVM finds out whether a q35 + OVMF guest really runs under KVM on
// this host: /dev/kvm must open read-write, and a guest started with
// -accel kvm -cpu host, the firmware and nothing else must write to its
// serial console (OVMF clears the screen when its console starts) before
// QEMU exits, reports "KVM internal error" or ProbeTimeout passes. The
// probe guest is killed then. qemu is the QEMU binary, code and vars the
// firmware files (vars is copied).
func ProbeKVM(qemu, code, vars string) KVMProbe {
	start := time.Now()
	p := probeKVM(qemu, code, vars)
	p.Took = time.Since(start)
	return p
}

func probeKVM(qemu, code, vars string) KVMProbe {
	f, err := os.OpenFile(kvmDevice, os.O_RDWR, 0)
	if err != nil {
		return KVMProbe{Reason: err.Error()}
	}
	f.Close()
	dir, err := outfile.MkdirTemp("", "icos-vm-probe-")
	if err != nil {
		return KVMProbe{Reason: err.Error()}
	}
	defer dir.Abort()
	varsCopy := filepath.Join(dir.Name(), VarsName)
	if err := copyFile(varsCopy, vars); err != nil {
		return KVMProbe{Reason: err.Error()}
	}
	cmd := exec.Command(qemu, "-nodefaults", "-machine", "q35", "-accel", "kvm", "-cpu", "host",
		"-m", "256M", "-smp", "1",
		"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+code,
		"-drive", "if=pflash,format=raw,unit=1,file="+varsCopy,
		"-display", "none", "-monitor", "none", "-serial", "stdio", "-no-reboot")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, outW, err := os.Pipe()
	if err != nil {
		return KVMProbe{Reason: err.Error()}
	}
	defer out.Close()
	errR, errW, err := os.Pipe()
	if err != nil {
		outW.Close()
		return KVMProbe{Reason: err.Error()}
	}
	defer errR.Close()
	cmd.Stdout, cmd.Stderr = outW, errW
	err = cmd.Start()
	outW.Close()
	errW.Close()
	if err != nil {
		return KVMProbe{Reason: err.Error()}
	}

	type event struct {
		usable bool
		reason string
	}
	events := make(chan event, 3)
	go func() {
		var b [1]byte
		if n, _ := out.Read(b[:]); n > 0 {
			events <- event{true, "the firmware ran"}
		}
	}()
	var stderr bytes.Buffer
	var mu sync.Mutex
	stderrDone := make(chan struct{})
	go func() {
		defer close(stderrDone)
		buf := make([]byte, 4096)
		for {
			n, err := errR.Read(buf)
			mu.Lock()
			stderr.Write(buf[:n])
			internal := bytes.Contains(stderr.Bytes(), []byte("KVM internal error"))
			mu.Unlock()
			if internal {
				events <- event{false, "the guest died: KVM internal error"}
				return
			}
			if err != nil {
				return
			}
		}
	}()
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()

	var res KVMProbe
	select {
	case e := <-events:
		res = KVMProbe{Usable: e.usable, Reason: e.reason}
	case <-exited:
		select {
		case e := <-events: // output or error that came just before the exit
			res = KVMProbe{Usable: e.usable, Reason: e.reason}
		default:
			<-stderrDone
			mu.Lock()
			msg := firstLine(stderr.String())
			mu.Unlock()
			res = KVMProbe{Reason: fmt.Sprintf("the probe guest exited (%s): %s", cmd.ProcessState, msg)}
		}
	case <-time.After(ProbeTimeout):
		res = KVMProbe{Reason: fmt.Sprintf("the probe guest printed nothing within %v", ProbeTimeout)}
	}
	cmd.Process.Kill()
	<-exited
	return res
}

// firstLine returns the first non-empty line of s, without QEMU's program
// name in front.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return strings.TrimPrefix(l, "qemu-system-x86_64: ")
		}
	}
	return "no message"
}

// probes caches ProbeKVM per QEMU binary and firmware, for the process.
var probes = struct {
	sync.Mutex
	m map[string]*probeOnce
}{m: map[string]*probeOnce{}}

type probeOnce struct {
	once sync.Once
	res  KVMProbe
}

// probeKVMCached is ProbeKVM, run once per process for each qemu, code and
// vars; concurrent callers wait for the one probe.
func probeKVMCached(qemu, code, vars string) KVMProbe {
	key := qemu + "\x00" + code + "\x00" + vars
	probes.Lock()
	p := probes.m[key]
	if p == nil {
		p = &probeOnce{}
		probes.m[key] = p
	}
	probes.Unlock()
	p.once.Do(func() { p.res = ProbeKVM(qemu, code, vars) })
	return p.res
}
