// Package initrd writes the extra initramfs of an IC-OS image: a cpio
// archive (newc, see tools/cpio) that the boot loader loads after the base
// image's initramfs (`initrd /initrd.img /icos-initrd.img`); the kernel
// unpacks both into one tree, the later archive's files winning.
//
// It adds the dm-verity root setup to Debian's initramfs-tools:
//
//	usr/lib/icos/icos-node                 the on-box binary (tools/cmd/icos-node)
//	usr/lib/icos/verity-root.modules       the module files to load, absolute paths in load order
//	usr/lib/modules/<kver>/kernel/...ko    those modules, copied from the rootfs tar
//	scripts/local-top/icos-verity-root     exec /usr/lib/icos/icos-node verity-root
//	scripts/local-top/ORDER                runs it, then sources /conf/param.conf
//
// The modules are the ones named and everything they depend on, from the
// modules.dep of the rootfs's one kernel (usr/lib/modules/<kver>, or
// lib/modules/<kver> in a tree without merged /usr). initramfs-tools runs
// scripts/local-top/ORDER before it waits for the root device, and mounts
// ROOT after sourcing /conf/param.conf, where icos-node appends
// ROOT=/dev/mapper/vroot. The ORDER file replaces any of the base
// initramfs (the Debian base has no local-top scripts). When the script
// fails, ORDER calls initramfs-tools' panic and then sets ROOT to the
// verity target anyway, so leaving the rescue shell never mounts the
// unverified partition.
//
// Only directories under usr/ and scripts/ are written, all 0755, like
// those of the base archive (the kernel applies an archive's directory
// modes to directories that exist): never lib, bin or sbin, which are
// symlinks into usr/ in the base. The archive is a function of the rootfs
// tar's relevant files, the binary, the module names and the
// modification time.
package initrd

import (
	"archive/tar"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

	"github.com/icos-build/icos/tools/cpio"
)

// Paths inside the archive (and the initramfs).
const (
	BinaryPath     = "/usr/lib/icos/icos-node"
	ModuleListPath = "/usr/lib/icos/verity-root.modules"
	ScriptPath     = "/scripts/local-top/icos-verity-root"
	OrderPath      = "/scripts/local-top/ORDER"
	modulesDir     = "usr/lib/modules"
)

// Script is the local-top script: it runs the binary.
const Script = "#!/bin/sh\nexec " + BinaryPath + " verity-root\n"

// Order is the local-top ORDER file, in the form initramfs-tools writes
// (each script, then the parameters the scripts exported), with the
// failure of the verity setup made fatal.
const Order = ScriptPath + ` "$@" || { panic "icos-verity-root failed: not mounting the unverified root filesystem"; ROOT=/dev/mapper/vroot; }
[ -e /conf/param.conf ] && . /conf/param.conf
`

// Options are the inputs of Write besides the rootfs tar.
type Options struct {
	// Modules are the kernel modules to load, by name ("dm-verity");
	// their dependencies are added.
	Modules []string
	// Binary is the icos-node executable.
	Binary []byte
	// ModTime is the modification time of every entry (Unix seconds).
	ModTime int64
}

// Info describes a written archive.
type Info struct {
	// KernelVersion is the rootfs's kernel version.
	KernelVersion string
	// Modules are the module files in the archive, absolute, in load order.
	Modules []string
	// RDZstd reports whether the kernel's boot/config-<version> in the
	// rootfs has CONFIG_RD_ZSTD=y (it can unpack a zstd initramfs).
	RDZstd bool
}

// Write reads the rootfs tar (twice: it seeks back to the start) and
// writes the archive to w.
func Write(w io.Writer, rootfs io.ReadSeeker, opts Options) (Info, error) {
	if len(opts.Modules) == 0 {
		return Info{}, errors.New("initrd: no kernel modules given")
	}
	if len(opts.Binary) == 0 {
		return Info{}, errors.New("initrd: empty binary")
	}
	k, err := scanKernel(rootfs)
	if err != nil {
		return Info{}, err
	}
	md, err := ParseModuleDeps(bytes.NewReader(k.modulesDep))
	if err != nil {
		return Info{}, fmt.Errorf("%w (kernel %s)", err, k.version)
	}
	order, err := md.LoadOrder(opts.Modules...)
	if err != nil {
		return Info{}, fmt.Errorf("%w (kernel %s)", err, k.version)
	}
	want := map[string]string{} // name in the tar → name in the archive
	info := Info{KernelVersion: k.version, RDZstd: k.rdZstd}
	for _, rel := range order {
		if path.Ext(rel) != ".ko" || path.Clean(rel) != rel || strings.HasPrefix(rel, "../") {
			return Info{}, fmt.Errorf("initrd: module %s: want an uncompressed .ko file inside the module directory", rel)
		}
		dst := path.Join(modulesDir, k.version, rel)
		want[path.Join(k.dir, rel)] = dst
		info.Modules = append(info.Modules, "/"+dst)
	}
	if _, err := rootfs.Seek(0, io.SeekStart); err != nil {
		return Info{}, fmt.Errorf("initrd: rootfs: %w", err)
	}
	files, err := readFiles(rootfs, want)
	if err != nil {
		return Info{}, err
	}
	files[BinaryPath[1:]] = file{0o755, opts.Binary}
	files[ModuleListPath[1:]] = file{0o644, []byte(strings.Join(info.Modules, "\n") + "\n")}
	files[ScriptPath[1:]] = file{0o755, []byte(Script)}
	files[OrderPath[1:]] = file{0o644, []byte(Order)}
	return info, writeArchive(w, files, opts.ModTime)
}

// file is a regular file of the archive.
type file struct {
	perm fs.FileMode
	data []byte
}

// kernel is what the first pass over the rootfs finds.
type kernel struct {
	version    string
	dir        string // module directory in the tar: usr/lib/modules/<version>
	modulesDep []byte
	rdZstd     bool
}

// tarName returns a tar entry's name without "./" or a trailing slash.
func tarName(h *tar.Header) string {
	return strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(h.Name, "./"), "/"), "/")
}

// scanKernel finds the one kernel version of the rootfs (a directory
// under usr/lib/modules or lib/modules), its modules.dep and its config.
func scanKernel(r io.Reader) (kernel, error) {
	dirs := map[string]string{}  // version → module directory
	deps := map[string][]byte{}  // module directory → modules.dep
	configs := map[string]bool{} // version → CONFIG_RD_ZSTD=y
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return kernel{}, fmt.Errorf("initrd: rootfs: %w", err)
		}
		name := tarName(h)
		for _, prefix := range []string{"usr/lib/modules/", "lib/modules/"} {
			rest, ok := strings.CutPrefix(name, prefix)
			if !ok {
				continue
			}
			if h.Typeflag == tar.TypeDir && rest != "" && !strings.Contains(rest, "/") {
				if other, dup := dirs[rest]; dup {
					return kernel{}, fmt.Errorf("initrd: rootfs: kernel %s in both %s and %s", rest, other, name)
				}
				dirs[rest] = name
			}
			if v, ok := strings.CutSuffix(rest, "/modules.dep"); ok && !strings.Contains(v, "/") && h.Typeflag == tar.TypeReg {
				b, err := io.ReadAll(tr)
				if err != nil {
					return kernel{}, fmt.Errorf("initrd: rootfs: %s: %w", name, err)
				}
				deps[prefix+v] = b
			}
		}
		if v, ok := strings.CutPrefix(name, "boot/config-"); ok && h.Typeflag == tar.TypeReg {
			rd, err := configHas(tr, "CONFIG_RD_ZSTD=y")
			if err != nil {
				return kernel{}, fmt.Errorf("initrd: rootfs: %s: %w", name, err)
			}
			configs[v] = rd
		}
	}
	var versions []string
	for v := range dirs {
		versions = append(versions, v)
	}
	sort.Strings(versions)
	switch len(versions) {
	case 0:
		return kernel{}, errors.New("initrd: rootfs: no kernel (no directory in usr/lib/modules)")
	case 1:
	default:
		return kernel{}, fmt.Errorf("initrd: rootfs: %d kernels (%s), want one", len(versions), strings.Join(versions, ", "))
	}
	k := kernel{version: versions[0], dir: dirs[versions[0]], rdZstd: configs[versions[0]]}
	var ok bool
	if k.modulesDep, ok = deps[k.dir]; !ok {
		return kernel{}, fmt.Errorf("initrd: rootfs: no %s/modules.dep", k.dir)
	}
	return k, nil
}

// configHas reports whether the kernel config r has the line.
func configHas(r io.Reader, line string) (bool, error) {
	sc := bufio.NewScanner(r)
	found := false
	for sc.Scan() {
		found = found || sc.Text() == line
	}
	return found, sc.Err()
}

// readFiles reads the regular files of the tar named by want's keys and
// returns them under want's values.
func readFiles(r io.Reader, want map[string]string) (map[string]file, error) {
	files := map[string]file{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("initrd: rootfs: %w", err)
		}
		name := tarName(h)
		dst, ok := want[name]
		if !ok {
			continue
		}
		if h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("initrd: rootfs: %s: not a regular file", name)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("initrd: rootfs: %s: %w", name, err)
		}
		files[dst] = file{0o644, b}
	}
	var missing []string
	for src, dst := range want {
		if _, ok := files[dst]; !ok {
			missing = append(missing, src)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("initrd: rootfs: module file %s missing", strings.Join(missing, ", "))
	}
	return files, nil
}

// writeArchive writes the files and their parent directories, parents
// first, in a fixed order.
func writeArchive(w io.Writer, files map[string]file, modTime int64) error {
	isDir := map[string]bool{}
	var names []string
	for name := range files {
		names = append(names, name)
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if !isDir[d] {
				isDir[d] = true
				names = append(names, d)
			}
		}
	}
	// Compare element by element, so a directory comes before what is
	// in it and its contents stay together.
	key := func(s string) string { return strings.ReplaceAll(s, "/", "\x00") }
	sort.Slice(names, func(i, j int) bool { return key(names[i]) < key(names[j]) })
	bw := bufio.NewWriterSize(w, 1<<20)
	cw, err := cpio.NewWriter(bw, cpio.Options{ModTime: modTime})
	if err != nil {
		return err
	}
	for _, name := range names {
		if isDir[name] {
			err = cw.Dir(name, 0o755)
		} else {
			f := files[name]
			err = cw.File(name, f.perm, f.data)
		}
		if err != nil {
			return err
		}
	}
	if err := cw.Close(); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("initrd: write: %w", err)
	}
	return nil
}
