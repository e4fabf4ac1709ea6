package imagecheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"github.com/icos-build/icos/tools/internal/hosttool"
)

// debianPackages names the package of each tool Check runs.
var debianPackages = map[string]string{
	"cmp":       "diffutils",
	"debugfs":   "e2fsprogs",
	"e2fsck":    "e2fsprogs",
	"fsck.vfat": "dosfstools",
	"mdir":      "mtools",
	"mtype":     "mtools",
	"pvck":      "lvm2",
	"sfdisk":    "fdisk",
	"sgdisk":    "gdisk",
	"sha256sum": "coreutils",
	"tar":       "tar",
	"zstd":      "zstd",
}

// checker holds the state of one Check run.
type checker struct {
	spec       *Spec
	base, work string
	log        io.Writer
	errs       []error
	disk       string            // the unpacked disk image
	cut        map[string]string // ext4 and vfat partitions and volumes cut out: name -> file
	fs         map[string]string // those of cut that passed fsck
	kinds      map[string]string // name -> kind
}

// Check runs every check of spec on the image outputs: relative paths in
// spec are relative to base, and work is an empty directory for unpacked
// and cut-out images (it needs room for the sparse disk's data). It writes
// one line per check passed to log and returns all failures joined, or nil.
func Check(spec *Spec, base, work string, log io.Writer) error {
	if err := spec.Validate(); err != nil {
		return fmt.Errorf("imagecheck: %s: %w", spec.Name, err)
	}
	c := &checker{spec: spec, base: base, work: work, log: log, cut: map[string]string{}, fs: map[string]string{}, kinds: map[string]string{}}
	for _, p := range spec.Partitions {
		c.kinds[p.Name] = p.Kind
		for _, v := range p.Volumes {
			c.kinds[v.Name] = v.Kind
		}
	}
	c.archive("disk", spec.Disk.Archive)
	if spec.Update != nil {
		c.archive("update", spec.Update.Archive)
	}
	if c.unpackDisk() {
		c.partitions()
		for _, f := range spec.Files {
			c.file(f)
		}
		if spec.Shadow != nil {
			c.shadow(*spec.Shadow)
		}
	} else {
		c.fail("disk", "no disk image: partitions, files and shadow not checked")
	}
	if spec.Update != nil {
		c.update()
	}
	if len(c.errs) > 0 {
		return fmt.Errorf("imagecheck: %s: %d failed:\n%w", spec.Name, len(c.errs), errors.Join(c.errs...))
	}
	return nil
}

// ok logs a check passed.
func (c *checker) ok(what, check string) { fmt.Fprintf(c.log, "ok %s: %s\n", what, check) }

// fail records a failed check.
func (c *checker) fail(what, format string, a ...any) {
	c.errs = append(c.errs, fmt.Errorf("%s: %s", what, fmt.Sprintf(format, a...)))
}

// path resolves a path of the spec.
func (c *checker) path(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.base, p)
}

// command returns the command running tool (found with hosttool.Find)
// with args, in the C locale.
func (c *checker) command(tool string, args ...string) (*exec.Cmd, error) {
	p, err := hosttool.Find(tool, debianPackages[tool])
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(p, args...)
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LVM_SUPPRESS_FD_WARNINGS=1", "MTOOLS_SKIP_CHECK=1")
	return cmd, nil
}

// run runs tool with args (in dir, if not empty) and returns its standard
// output; the error includes its standard error (cut short).
func (c *checker) run(dir, tool string, args ...string) ([]byte, error) {
	cmd, err := c.command(tool, args...)
	if err != nil {
		return nil, err
	}
	cmd.Dir = dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("%s %s: %v: %s", tool, strings.Join(args, " "), err, clip(stderr.String()+stdout.String()))
	}
	return stdout.Bytes(), nil
}

// clip shortens a tool's output for a message.
func clip(s string) string {
	s = strings.TrimSpace(s)
	lines := strings.Split(s, "\n")
	if len(lines) > 20 {
		lines = append(lines[:20], fmt.Sprintf("... (%d more lines)", len(lines)-20))
	}
	return strings.Join(lines, "\n")
}

// archive checks a .tar.zst output: its .sha256 file and its zstd frames.
func (c *checker) archive(what, arc string) {
	p := c.path(arc)
	what = fmt.Sprintf("%s archive %s", what, filepath.Base(arc))
	if _, err := c.run(filepath.Dir(p), "sha256sum", "-c", "--quiet", "--strict", filepath.Base(p)+".sha256"); err != nil {
		c.fail(what, "checksum: %v", err)
	} else {
		c.ok(what, "sha256sum -c")
	}
	// zstd ignores an input that is a symbolic link (as every file in
	// Bazel's runfiles is) and fails: give it the file the link names.
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	if _, err := c.run("", "zstd", "-q", "-t", real); err != nil {
		c.fail(what, "%v", err)
	} else {
		c.ok(what, "zstd -t")
	}
}

// unpackDisk unpacks the disk image and checks its size, allocation and
// GPT. It reports whether the partitions can be checked.
func (c *checker) unpackDisk() bool {
	d := c.spec.Disk
	dir := filepath.Join(c.work, "disk")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.fail("disk", "%v", err)
		return false
	}
	if _, err := c.run("", "tar", "--zstd", "-xf", c.path(d.Archive), "-C", dir, "--", d.Entry); err != nil {
		c.fail("disk", "%v", err)
		return false
	}
	c.ok("disk", "tar --zstd -x "+d.Entry)
	c.disk = filepath.Join(dir, d.Entry)
	var st syscall.Stat_t
	if err := syscall.Stat(c.disk, &st); err != nil {
		c.fail("disk", "%v", err)
		return false
	}
	if st.Size != int64(d.Size) {
		c.fail("disk", "%s is %d bytes, want %d", d.Entry, st.Size, d.Size)
	} else {
		c.ok("disk", fmt.Sprintf("size %d", st.Size))
	}
	maxAlloc := int64(d.MaxAllocated)
	if maxAlloc == 0 {
		maxAlloc = int64(d.Size) / 2
	}
	if alloc := st.Blocks * 512; alloc >= maxAlloc {
		c.fail("disk", "%s allocates %d bytes, want fewer than %d (not sparse)", d.Entry, alloc, maxAlloc)
	} else {
		c.ok("disk", fmt.Sprintf("%d bytes allocated", alloc))
	}
	out, err := c.run("", "sgdisk", "-v", c.disk)
	if err == nil && !bytes.Contains(out, []byte("No problems found")) {
		err = fmt.Errorf("sgdisk -v: %s", clip(string(out)))
	}
	if err != nil {
		c.fail("disk", "%v", err)
	} else {
		c.ok("disk", "sgdisk -v")
	}
	return true
}

// gptPartition is a partition as sfdisk -J reports it.
type gptPartition struct {
	Name  string `json:"name"`
	Start int64  `json:"start"`
	Size  int64  `json:"size"`
}

// partitions checks every partition of the disk against the spec.
func (c *checker) partitions() {
	out, err := c.run("", "sfdisk", "-J", c.disk)
	if err != nil {
		c.fail("disk", "%v", err)
		return
	}
	var table struct {
		PartitionTable struct {
			Label      string         `json:"label"`
			SectorSize int64          `json:"sectorsize"`
			Partitions []gptPartition `json:"partitions"`
		} `json:"partitiontable"`
	}
	if err := json.Unmarshal(out, &table); err != nil {
		c.fail("disk", "sfdisk -J: %v", err)
		return
	}
	pt := table.PartitionTable
	if pt.SectorSize == 0 {
		pt.SectorSize = 512
	}
	if pt.Label != "gpt" {
		c.fail("disk", "partition table %q, want gpt", pt.Label)
	}
	var names []string
	at := map[string]gptPartition{}
	for _, p := range pt.Partitions {
		names = append(names, p.Name)
		at[p.Name] = p
	}
	c.sameNames("disk", "partitions", names, c.spec.Partitions)
	for _, p := range c.spec.Partitions {
		gp, ok := at[p.Name]
		if !ok {
			continue // reported by sameNames
		}
		c.region(p, gp.Start*pt.SectorSize, gp.Size*pt.SectorSize)
	}
}

// sameNames checks that the disk's partitions or a PV's volumes (names, in
// order) are those of the spec.
func (c *checker) sameNames(what, of string, got []string, want []Partition) {
	var wantNames []string
	for _, p := range want {
		wantNames = append(wantNames, p.Name)
	}
	if slices.Equal(got, wantNames) {
		c.ok(what, of+" "+strings.Join(got, ","))
		return
	}
	var extra, missing []string
	for _, n := range got {
		if !slices.Contains(wantNames, n) {
			extra = append(extra, n)
		}
	}
	for _, n := range wantNames {
		if !slices.Contains(got, n) {
			missing = append(missing, n)
		}
	}
	msg := fmt.Sprintf("%s %s, want %s", of, strings.Join(got, ","), strings.Join(wantNames, ","))
	if len(extra) > 0 {
		msg += "; not in the spec: " + strings.Join(extra, ",")
	}
	if len(missing) > 0 {
		msg += "; missing: " + strings.Join(missing, ",")
	}
	c.fail(what, "%s", msg)
}

// region checks the partition or volume p at [off, off+n) of the disk by
// its kind.
func (c *checker) region(p Partition, off, n int64) {
	switch p.Kind {
	case KindEmpty:
		m := min(n, 1<<20)
		if _, err := c.run("", "cmp", "-s", "-n", fmt.Sprint(m), "-i", fmt.Sprintf("%d:0", off), c.disk, "/dev/zero"); err != nil {
			c.fail(p.Name, "not empty: its first %d bytes are not all zero", m)
		} else {
			c.ok(p.Name, "empty")
		}
	case KindExt4, KindVFAT:
		f := filepath.Join(c.work, "fs", p.Name+".img")
		if err := cut(c.disk, f, off, n); err != nil {
			c.fail(p.Name, "%v", err)
			return
		}
		c.cut[p.Name] = f
		args := []string{"-fn", f}
		tool := "e2fsck"
		if p.Kind == KindVFAT {
			tool, args = "fsck.vfat", []string{"-n", f}
		}
		if _, err := c.run("", tool, args...); err != nil {
			c.fail(p.Name, "%v", err)
			return
		}
		c.fs[p.Name] = f
		c.ok(p.Name, tool+" "+args[0])
	case KindLVM:
		c.lvm(p, off, n)
	}
}

// lvm checks the physical volume p at [off, off+n) and its volumes.
func (c *checker) lvm(p Partition, off, n int64) {
	head := filepath.Join(c.work, "fs", p.Name+".head")
	if err := cut(c.disk, head, off, min(n, 1<<20)); err != nil {
		c.fail(p.Name, "%v", err)
		return
	}
	out, err := c.run("", "pvck", "--dump", "metadata", head)
	if err != nil {
		c.fail(p.Name, "%v", err)
		return
	}
	c.ok(p.Name, "pvck --dump metadata")
	vols, err := lvmVolumes(string(out))
	if err != nil {
		c.fail(p.Name, "%v", err)
		return
	}
	var names []string
	at := map[string]lvmVolume{}
	for _, v := range vols {
		names = append(names, v.name)
		at[v.name] = v
	}
	c.sameNames(p.Name, "logical volumes", names, p.Volumes)
	for _, v := range p.Volumes {
		lv, ok := at[v.Name]
		if !ok {
			continue
		}
		if lv.offset+lv.length > n {
			c.fail(v.Name, "logical volume ends at %d, beyond its physical volume %s (%d bytes)", lv.offset+lv.length, p.Name, n)
			continue
		}
		c.region(v, off+lv.offset, lv.length)
	}
}

// update checks the update archive's entries.
func (c *checker) update() {
	u := c.spec.Update
	what := "update archive " + filepath.Base(u.Archive)
	dir := filepath.Join(c.work, "update")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		c.fail(what, "%v", err)
		return
	}
	list, err := c.run("", "tar", "--zstd", "-tf", c.path(u.Archive))
	if err != nil {
		c.fail(what, "%v", err)
		return
	}
	got := strings.Fields(string(list))
	sort.Strings(got)
	var want []string
	for name := range u.Entries {
		want = append(want, name)
	}
	sort.Strings(want)
	if !slices.Equal(got, want) {
		c.fail(what, "holds %s, want %s", strings.Join(got, " "), strings.Join(want, " "))
	} else {
		c.ok(what, "entries "+strings.Join(got, " "))
	}
	if _, err := c.run("", "tar", "--zstd", "-xf", c.path(u.Archive), "-C", dir); err != nil {
		c.fail(what, "%v", err)
		return
	}
	for _, name := range want {
		e := u.Entries[name]
		entry := filepath.Join(dir, name)
		st, err := os.Stat(entry)
		if err != nil {
			c.fail(what, "entry %s: %v", name, err)
			continue
		}
		if e.EqualsFile != "" {
			if _, err := c.run("", "cmp", entry, c.path(e.EqualsFile)); err != nil {
				c.fail(what, "entry %s differs from %s: %v", name, e.EqualsFile, err)
			} else {
				c.ok(what, name+" equals "+e.EqualsFile)
			}
			continue
		}
		part, ok := c.cut[e.Partition]
		if !ok {
			c.fail(what, "entry %s not checked: no partition %s cut out of the disk", name, e.Partition)
			continue
		}
		if _, err := c.run("", "cmp", "-n", fmt.Sprint(st.Size()), entry, part); err != nil {
			c.fail(what, "entry %s differs from partition %s: %v", name, e.Partition, err)
		} else {
			c.ok(what, name+" equals partition "+e.Partition)
		}
	}
}

// Linux's lseek whence values for sparse files (not exported by syscall).
const (
	seekData = 3
	seekHole = 4
)

// cut copies [off, off+n) of src to a new file dst of n bytes, copying only
// the data ranges (SEEK_DATA/SEEK_HOLE): the disk is many GiB of holes.
func cut(src, dst string, off, n int64) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}()
	if err := out.Truncate(n); err != nil {
		return err
	}
	buf := make([]byte, 1<<20)
	fd := int(in.Fd())
	for pos, end := off, off+n; pos < end; {
		data, err := syscall.Seek(fd, pos, seekData)
		if errors.Is(err, syscall.ENXIO) {
			break // only a hole follows
		} else if err != nil {
			return fmt.Errorf("cut %s: %w", src, err)
		}
		if data >= end {
			break
		}
		hole, err := syscall.Seek(fd, data, seekHole)
		if err != nil {
			return fmt.Errorf("cut %s: %w", src, err)
		}
		hole = min(hole, end)
		for data < hole {
			m, err := in.ReadAt(buf[:min(int64(len(buf)), hole-data)], data)
			if m > 0 {
				if _, err := out.WriteAt(buf[:m], data-off); err != nil {
					return err
				}
				data += int64(m)
			}
			if err != nil && !(errors.Is(err, io.EOF) && m > 0) {
				return fmt.Errorf("cut %s: %w", src, err)
			}
		}
		pos = hole
	}
	return nil
}
