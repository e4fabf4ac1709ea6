package initrd

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// ModuleDeps is a parsed modules.dep: for each module file (a path
// relative to the kernel's module directory, e.g.
// "kernel/drivers/md/dm-verity.ko"), the files it depends on.
type ModuleDeps struct {
	deps   map[string][]string
	byName map[string]string // module name (see moduleName) → file
}

// ParseModuleDeps reads a modules.dep as depmod writes it: one line per
// module, "FILE: DEP...", with every module it depends on, directly or not.
func ParseModuleDeps(r io.Reader) (*ModuleDeps, error) {
	md := &ModuleDeps{deps: map[string][]string{}, byName: map[string]string{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		file, rest, ok := strings.Cut(line, ":")
		if !ok || file == "" {
			return nil, fmt.Errorf("initrd: modules.dep:%d: want \"FILE: DEPS\", got %q", n, line)
		}
		if _, dup := md.deps[file]; dup {
			return nil, fmt.Errorf("initrd: modules.dep:%d: %s listed twice", n, file)
		}
		md.deps[file] = strings.Fields(rest)
		name := moduleName(file)
		if other, dup := md.byName[name]; dup {
			return nil, fmt.Errorf("initrd: modules.dep:%d: module %s is both %s and %s", n, name, other, file)
		}
		md.byName[name] = file
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("initrd: modules.dep: %w", err)
	}
	return md, nil
}

// moduleName returns the name of a module file as modprobe knows it: the
// base name without ".ko" (and a compression suffix), '-' read as '_'.
func moduleName(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i >= 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}

// LoadOrder returns the files of the named modules and of all the modules
// they depend on, each once, in an order in which they can be loaded: a
// module's dependencies before it, walked depth first in the order of
// modules.dep, then the modules in the order given (as modprobe does).
func (md *ModuleDeps) LoadOrder(names ...string) ([]string, error) {
	var order []string
	state := map[string]int{} // 1: being visited, 2: in order
	var visit func(file, via string) error
	visit = func(file, via string) error {
		switch state[file] {
		case 1:
			return fmt.Errorf("initrd: modules.dep: dependency cycle through %s", file)
		case 2:
			return nil
		}
		deps, ok := md.deps[file]
		if !ok {
			return fmt.Errorf("initrd: modules.dep: %s (needed by %s) not listed", file, via)
		}
		state[file] = 1
		for _, d := range deps {
			if err := visit(d, file); err != nil {
				return err
			}
		}
		state[file] = 2
		order = append(order, file)
		return nil
	}
	for _, n := range names {
		file, ok := md.byName[moduleName(n)]
		if !ok {
			return nil, fmt.Errorf("initrd: kernel module %q not in modules.dep", n)
		}
		if err := visit(file, n); err != nil {
			return nil, err
		}
	}
	return order, nil
}
