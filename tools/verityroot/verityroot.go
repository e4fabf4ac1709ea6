// Package verityroot sets up the dm-verity device of a verified root
// filesystem at boot, from the initramfs, before the root is mounted: it
// is the logic of `icos-node verity-root`.
//
// Kernel parameters (one set, all from the kernel command line):
//
//	root=PARTLABEL=A_root            the partition holding the filesystem and, after it, its hash area
//	root_hash=<64 hex digits>        the dm-verity root hash (sha256); its presence turns verification on
//	root_hash_offset=<bytes>         where the hash area starts in the partition: the filesystem's size
//
// Without root_hash= nothing is done. With it, root_hash_offset= and root=
// are required. root= may be PARTLABEL=, PARTUUID=, UUID=, LABEL= (the
// udev links under /dev/disk/by-*) or a /dev path. Everything else about
// the tree is read from the verity superblock, the first 512 bytes of the
// hash area, and must be the format that tools/verity writes: version 1,
// hash type 1, sha256, 4096-byte data and hash blocks, a salt, and exactly
// root_hash_offset/4096 data blocks (the hash area follows the filesystem
// directly, so an altered superblock cannot shorten the verified device).
// The partition must hold the whole hash area.
//
// Setup: load the kernel modules given (dm-mod, dm-bufio, reed_solomon,
// dm-verity, in that order for the Debian 6.1 kernel; one already loaded
// is fine), wait (bounded) for udev to create the root device's link, read
// and check the superblock, create the read-only device-mapper target
// "vroot" with the table
//
//	0 <data sectors> verity 1 <maj:min> <maj:min> 4096 4096 <data blocks> <offset/4096+1> sha256 <root hash> <salt> 1 panic_on_corruption
//
// and append ROOT=/dev/mapper/vroot to initramfs-tools' /conf/param.conf,
// so the initramfs mounts the verified device (read-only, its default).
// There is no fallback: any failure is an error, and the initramfs must
// then stop rather than mount the unverified partition.
package verityroot

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

const (
	// TargetName is the name of the device-mapper target.
	TargetName = "vroot"
	// TargetPath is the device node of the target, the new ROOT.
	TargetPath = "/dev/mapper/" + TargetName

	sectorSize = 512
)

// The kernel parameters read by ParseCmdline.
const (
	ParamRoot       = "root"
	ParamRootHash   = "root_hash"
	ParamHashOffset = "root_hash_offset"
)

// Params are the verity parameters of the kernel command line.
type Params struct {
	Root       string // value of root=, e.g. "PARTLABEL=A_root"
	RootHash   string // lower-case hex, 64 digits
	HashOffset int64  // bytes, a positive multiple of 4096
}

// SplitCmdline splits a kernel command line into its parameters the way
// the kernel does: at spaces, a double-quoted part may hold spaces (the
// quotes are removed), and a "--" ends the kernel's parameters (what
// follows is for init).
func SplitCmdline(s string) []string {
	var params []string
	var cur strings.Builder
	inQuote, have := false, false
	flush := func() bool {
		if !have {
			return true
		}
		p := cur.String()
		cur.Reset()
		have = false
		if p == "--" {
			return false
		}
		params = append(params, p)
		return true
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			inQuote = !inQuote
			have = true
		case !inQuote && (c == ' ' || c == '\t' || c == '\n'):
			if !flush() {
				return params
			}
		default:
			cur.WriteByte(c)
			have = true
		}
	}
	flush()
	return params
}

// ParseCmdline reads the verity parameters from a kernel command line. ok
// is false, and the error nil, when there is no root_hash= parameter. A
// root= given several times counts with its last value, as for
// initramfs-tools; root_hash= or root_hash_offset= given twice is an error.
func ParseCmdline(cmdline string) (p Params, ok bool, err error) {
	var hash, offset []string
	for _, param := range SplitCmdline(cmdline) {
		name, value, _ := strings.Cut(param, "=")
		switch name {
		case ParamRoot:
			p.Root = value
		case ParamRootHash:
			hash = append(hash, value)
		case ParamHashOffset:
			offset = append(offset, value)
		}
	}
	if len(hash) == 0 {
		if len(offset) > 0 {
			return Params{}, false, fmt.Errorf("verityroot: %s= without %s=", ParamHashOffset, ParamRootHash)
		}
		return Params{}, false, nil
	}
	if len(hash) > 1 || len(offset) > 1 {
		return Params{}, false, fmt.Errorf("verityroot: %s= or %s= given more than once", ParamRootHash, ParamHashOffset)
	}
	if p.RootHash, err = parseRootHash(hash[0]); err != nil {
		return Params{}, false, err
	}
	if len(offset) == 0 {
		return Params{}, false, fmt.Errorf("verityroot: %s= given without %s=", ParamRootHash, ParamHashOffset)
	}
	p.HashOffset, err = strconv.ParseInt(offset[0], 10, 64)
	if err != nil || p.HashOffset <= 0 || p.HashOffset%blockSize != 0 {
		return Params{}, false, fmt.Errorf("verityroot: %s=%q: want a positive multiple of %d (bytes)", ParamHashOffset, offset[0], blockSize)
	}
	if p.Root == "" {
		return Params{}, false, fmt.Errorf("verityroot: %s= given without %s=", ParamRootHash, ParamRoot)
	}
	return p, true, nil
}

func parseRootHash(s string) (string, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return "", fmt.Errorf("verityroot: %s=%q: want 64 hex digits (sha256)", ParamRootHash, s)
	}
	return hex.EncodeToString(b), nil
}

// DevicePath returns the device node path for a root= value: a /dev path
// as is, PARTLABEL=, PARTUUID=, UUID= and LABEL= as the udev links under
// /dev/disk (by-partlabel and so on; PARTUUID= in lower case, as udev
// names it).
func DevicePath(root string) (string, error) {
	if strings.HasPrefix(root, "/dev/") && len(root) > len("/dev/") {
		return root, nil
	}
	key, value, ok := strings.Cut(root, "=")
	dirs := map[string]string{"PARTLABEL": "by-partlabel", "PARTUUID": "by-partuuid", "UUID": "by-uuid", "LABEL": "by-label"}
	dir, known := dirs[key]
	if !ok || !known || value == "" || strings.ContainsAny(value, "/\x00") || value == "." || value == ".." {
		return "", fmt.Errorf("verityroot: root=%s: want a /dev path or PARTLABEL=, PARTUUID=, UUID=, LABEL= with a name without '/'", root)
	}
	if key == "PARTUUID" {
		value = strings.ToLower(value)
	}
	return "/dev/disk/" + dir + "/" + value, nil
}

// checkSuperblock checks that sb, read at hashOffset of a device of
// devSize bytes, describes the tree tools/verity writes for a filesystem
// of hashOffset bytes, and that the device holds the whole hash area.
func checkSuperblock(sb Superblock, hashOffset, devSize int64) error {
	switch {
	case sb.HashType != hashType:
		return fmt.Errorf("hash type %d, want %d", sb.HashType, hashType)
	case sb.Algorithm != algorithm:
		return fmt.Errorf("algorithm %q, want %q", sb.Algorithm, algorithm)
	case sb.DataBlockSize != blockSize || sb.HashBlockSize != blockSize:
		return fmt.Errorf("block sizes %d/%d, want %d", sb.DataBlockSize, sb.HashBlockSize, blockSize)
	case len(sb.Salt) == 0:
		return errors.New("empty salt")
	case sb.DataBlocks != uint64(hashOffset/blockSize):
		return fmt.Errorf("%d data blocks, but %s=%d means %d", sb.DataBlocks, ParamHashOffset, hashOffset, hashOffset/blockSize)
	}
	hashSize := hashAreaSize(hashOffset / blockSize)
	if devSize < hashOffset+hashSize {
		return fmt.Errorf("device of %d bytes, too small for the hash area of %d bytes at %d", devSize, hashSize, hashOffset)
	}
	return nil
}

// Table returns the device-mapper table line of the verity target for the
// device dev ("major:minor" or a path), sb having passed the checks of Run.
func Table(dev string, sb Superblock, hashOffset int64, rootHash string) string {
	salt := hex.EncodeToString(sb.Salt)
	return fmt.Sprintf("0 %d verity %d %s %s %d %d %d %d %s %s %s 1 panic_on_corruption",
		sb.DataBlocks*blockSize/sectorSize, sb.HashType, dev, dev, sb.DataBlockSize, sb.HashBlockSize,
		sb.DataBlocks, hashOffset/blockSize+1, sb.Algorithm, rootHash, salt)
}

// ParseModuleList reads a module list: one module file path per line, in
// load order; empty lines and lines starting with '#' are skipped.
func ParseModuleList(r io.Reader) ([]string, error) {
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("verityroot: module list: %w", err)
	}
	var mods []string
	for line := range strings.SplitSeq(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mods = append(mods, line)
	}
	return mods, nil
}

// Device is an opened block device.
type Device interface {
	io.ReaderAt
	// Size returns the device's size in bytes.
	Size() (int64, error)
	// ID returns the device number as "major:minor".
	ID() (string, error)
	Close() error
}

// System is what Run needs from the machine; OS is the real one.
type System interface {
	// Exists reports whether path exists (following symlinks).
	Exists(path string) bool
	// OpenDevice opens the block device path for reading.
	OpenDevice(path string) (Device, error)
	// LoadModule loads the kernel module file path; a module already
	// loaded is not an error.
	LoadModule(path string) error
	// CreateTarget creates the read-only device-mapper target name with
	// the one-line table.
	CreateTarget(name, table string) error
	// Sleep waits for d.
	Sleep(d time.Duration)
}

// Config are the inputs of Run besides the System.
type Config struct {
	Cmdline   string        // the kernel command line
	Modules   []string      // module files, in load order
	Timeout   time.Duration // how long to wait for the root device
	ParamFile string        // initramfs-tools' /conf/param.conf
	Log       io.Writer     // progress messages (the console)
}

const (
	pollInterval = 100 * time.Millisecond
	sayEvery     = 5 * time.Second
	// targetTimeout bounds the wait for the target's node after it is
	// created (dmsetup waits for udev, so it is normally there at once).
	targetTimeout = 5 * time.Second
)

// Run sets up the verified root as the package documentation describes.
// It returns done false, and no error, when the command line has no
// root_hash=.
func Run(cfg Config, sys System) (done bool, err error) {
	p, ok, err := ParseCmdline(cfg.Cmdline)
	if err != nil || !ok {
		return false, err
	}
	dev, err := DevicePath(p.Root)
	if err != nil {
		return false, err
	}
	if len(cfg.Modules) == 0 {
		return false, errors.New("verityroot: no kernel modules given (dm-verity and its dependencies)")
	}
	for _, m := range cfg.Modules {
		if err := sys.LoadModule(m); err != nil {
			return false, fmt.Errorf("verityroot: load module %s: %w", m, err)
		}
	}
	if err := wait(sys, dev, cfg.Timeout, cfg.Log, "root="+p.Root); err != nil {
		return false, err
	}
	table, err := readTable(sys, dev, p)
	if err != nil {
		return false, err
	}
	if err := sys.CreateTarget(TargetName, table); err != nil {
		return false, fmt.Errorf("verityroot: create %s on %s: %w", TargetName, dev, err)
	}
	if err := wait(sys, TargetPath, targetTimeout, cfg.Log, "the verity target"); err != nil {
		return false, err
	}
	f, err := os.OpenFile(cfg.ParamFile, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return false, fmt.Errorf("verityroot: %w", err)
	}
	if _, err := fmt.Fprintf(f, "ROOT=%s\n", TargetPath); err != nil {
		f.Close()
		return false, fmt.Errorf("verityroot: %s: %w", cfg.ParamFile, err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Errorf("verityroot: %s: %w", cfg.ParamFile, err)
	}
	fmt.Fprintf(cfg.Log, "icos-node verity-root: %s verified by dm-verity as %s (root hash %s)\n", dev, TargetPath, p.RootHash)
	return true, nil
}

// wait waits up to timeout for path to exist, saying so every sayEvery.
func wait(sys System, path string, timeout time.Duration, log io.Writer, what string) error {
	var waited time.Duration
	for !sys.Exists(path) {
		if waited >= timeout {
			return fmt.Errorf("verityroot: %s (%s) did not appear within %v", path, what, timeout)
		}
		if waited%sayEvery == 0 {
			fmt.Fprintf(log, "icos-node verity-root: waiting for %s (%s), %v of %v\n", path, what, waited, timeout)
		}
		sys.Sleep(pollInterval)
		waited += pollInterval
	}
	return nil
}

// readTable reads and checks the superblock on dev and returns the table.
func readTable(sys System, dev string, p Params) (string, error) {
	d, err := sys.OpenDevice(dev)
	if err != nil {
		return "", fmt.Errorf("verityroot: open root device: %w", err)
	}
	defer d.Close()
	size, err := d.Size()
	if err != nil {
		return "", fmt.Errorf("verityroot: %s: size: %w", dev, err)
	}
	id, err := d.ID()
	if err != nil {
		return "", fmt.Errorf("verityroot: %s: %w", dev, err)
	}
	buf := make([]byte, SuperblockSize)
	if p.HashOffset > size-int64(len(buf)) {
		return "", fmt.Errorf("verityroot: %s: %s=%d beyond the device's %d bytes", dev, ParamHashOffset, p.HashOffset, size)
	}
	if _, err := d.ReadAt(buf, p.HashOffset); err != nil {
		return "", fmt.Errorf("verityroot: %s: read superblock at %d: %w", dev, p.HashOffset, err)
	}
	sb, err := parseSuperblock(buf)
	if err != nil {
		return "", fmt.Errorf("verityroot: %s: superblock at %d: %w", dev, p.HashOffset, err)
	}
	if err := checkSuperblock(sb, p.HashOffset, size); err != nil {
		return "", fmt.Errorf("verityroot: %s: superblock at %d: %w", dev, p.HashOffset, err)
	}
	return Table(id, sb, p.HashOffset, p.RootHash), nil
}
