package verityroot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// OS is the System of a running Linux initramfs: modules are loaded with
// finit_module(2) and the target is created by dmsetup, which also waits
// for udev to create its /dev/mapper node (udev is running in the
// initramfs and has the device-mapper rules).
type OS struct {
	// Dmsetup is the path of the dmsetup binary.
	Dmsetup string
}

// Exists reports whether path exists, following symlinks.
func (OS) Exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// OpenDevice opens a block device for reading.
func (OS) OpenDevice(path string) (Device, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if st.Mode()&os.ModeDevice == 0 || st.Mode()&os.ModeCharDevice != 0 {
		f.Close()
		return nil, fmt.Errorf("%s: not a block device", path)
	}
	return &blockDevice{File: f, rdev: st.Sys().(*syscall.Stat_t).Rdev}, nil
}

type blockDevice struct {
	*os.File
	rdev uint64
}

func (d *blockDevice) Size() (int64, error) { return d.Seek(0, io.SeekEnd) }
func (d *blockDevice) ID() (string, error)  { return DeviceID(d.rdev), nil }

// DeviceID formats a Linux device number (st_rdev) as "major:minor".
func DeviceID(rdev uint64) string {
	return fmt.Sprintf("%d:%d", unix.Major(rdev), unix.Minor(rdev))
}

// LoadModule loads the module file path with finit_module(2), without
// parameters; EEXIST (already loaded) is success.
func (OS) LoadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("finit_module: %w", err)
	}
	return nil
}

// CreateTarget runs `dmsetup create NAME --readonly --table TABLE`.
func (o OS) CreateTarget(name, table string) error {
	out, err := exec.Command(o.Dmsetup, "create", name, "--readonly", "--table", table).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			return fmt.Errorf("%s: %w", o.Dmsetup, err)
		}
		return fmt.Errorf("%s: %w: %s", o.Dmsetup, err, strings.ReplaceAll(msg, "\n", "; "))
	}
	return nil
}

// Sleep waits for d.
func (OS) Sleep(d time.Duration) { time.Sleep(d) }
