package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/base"
	"github.com/icos-build/icos/tools/bootloader"
	"github.com/icos-build/icos/tools/oci"
)

func init() {
	register(&cli.Command{
		Name:  "base",
		Usage: "build, bump, verify and fetch the Debian base images pinned by ic-os/<os>/context lock files",
		Description: "Base images are built with mmdebstrap (root, network to the Debian mirror of the host's " +
			"apt configuration) into the local OCI store; everything else reads them by digest.",
		Subcommands: []*cli.Command{
			{
				Name:      "build",
				Usage:     "build the base image from the lock with exactly the locked versions; print its digest",
				ArgsUsage: " ",
				Flags:     append(contextFlags(), buildFlags()...),
				Action:    noArgs(baseBuild),
			},
			{
				Name:  "bump",
				Usage: "resolve the package lists to the newest versions, build, store, rewrite the lock (the weekly job)",
				Flags: append(append(contextFlags(), buildFlags()...),
					&cli.Int64Flag{Name: "epoch", EnvVars: []string{"SOURCE_DATE_EPOCH"}, Usage: "SOURCE_DATE_EPOCH for the new lock (default: keep the old lock's)"},
					&cli.StringFlag{Name: "repository", Usage: "image repository name recorded in the lock (default: keep, or icos/<os>-base)"},
					&cli.StringFlag{Name: "push", Usage: "also push the image to `REGISTRY` (host[:port][/path]) as <registry>/<repository>:<variant>-<date>"},
					&cli.BoolFlag{Name: "no-check", Usage: "skip checking the package names against the host's apt indexes"},
				),
				Action: noArgs(baseBump),
			},
			{
				Name:   "verify",
				Usage:  "rebuild from the lock and compare digests; on mismatch list the files that differ",
				Flags:  append(contextFlags(), buildFlags()...),
				Action: noArgs(baseVerify),
			},
			{
				Name: "check",
				Usage: "check that the Debian archive still serves every locked package at its locked version and .deb checksum " +
					"(default: the builder lock, every base lock and the bootloader lock of the workspace); exit status 3 when a lock has expired",
				ArgsUsage: "[LOCK...]",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "expired", Usage: "write the paths of the expired locks to `FILE`, one per line"},
					&cli.StringFlag{Name: "tmpdir", Usage: "scratch `DIR` for the downloaded indexes (default $TMPDIR)"},
					&cli.StringFlag{Name: "apt-root", Value: "/", EnvVars: []string{"ICOS_APT_ROOT"}, Usage: "`DIR` whose etc/apt gives the Debian mirror"},
				},
				Action: baseCheck,
			},
			{
				Name:  "builder",
				Usage: "the pinned builder every base image is built in (" + base.BuilderLockPath + ")",
				Subcommands: []*cli.Command{
					{
						Name:      "ensure",
						Usage:     "make the builder root from the builder lock (if not cached) and check its packages; print its path",
						ArgsUsage: " ",
						Flags:     builderFlags(),
						Action:    noArgs(builderEnsure),
					},
					{
						Name:      "bump",
						Usage:     "resolve the builder's package list (packages beside the lock) to the newest versions and rewrite the builder lock; re-lock every base image after it",
						ArgsUsage: " ",
						Flags:     builderFlags(),
						Action:    noArgs(builderBump),
					},
				},
			},
			{
				Name:  "fetch",
				Usage: "make the lock's image available: local store first, then registries (digest verified), then (--build-missing) a build from the lock",
				Flags: append(append(contextFlags(), buildFlags()...),
					&cli.BoolFlag{Name: "build-missing", Usage: "build the image from the lock when it is in no store or registry, and check the digest against the pin"},
					&cli.BoolFlag{Name: "allow-unpinned", EnvVars: []string{base.EnvAllowUnpinned}, Usage: "with --build-missing: go on with a built image whose digest differs from the pin"},
					&cli.StringFlag{Name: "status", Usage: "write `FILE`: \"pinned DIGEST\" or \"unpinned DIGEST\" (the image used)"},
					&cli.StringSliceFlag{Name: "registry", Usage: "registry `PREFIX` to search (host[:port][/path], repeatable; also $" + oci.EnvRegistries + ")"},
					&cli.StringFlag{Name: "oci-layout", Usage: "also export the image to the OCI layout `DIR` (e.g. a Bazel external repository)"},
				),
				Action: noArgs(baseFetch),
			},
		},
	})
}

func contextFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "os", Usage: "OS name: guestos, hostos, setupos or boundary-guestos (default: taken from --lock or --context)"},
		&cli.StringFlag{Name: "context", Usage: "context `DIR` holding packages.common, packages.dev and the locks (default ic-os/<os>/context)"},
		&cli.StringFlag{Name: "variant", Value: "prod", Usage: "prod (packages.common) or dev (packages.common + packages.dev)"},
		&cli.StringFlag{Name: "lock", Usage: "lock `FILE` to read instead of the context's (build, verify, fetch)"},
	}
}

func builderFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "builder-lock", Usage: "builder lock `FILE` (default: " + base.BuilderLockPath + " in the context directory's workspace)"},
		&cli.StringFlag{Name: "builder-cache", EnvVars: []string{base.EnvBuilderCache}, Usage: "`DIR` keeping builder roots (default $XDG_CACHE_HOME/icos/builder or ~/.cache/icos/builder)"},
		&cli.StringFlag{Name: "tmpdir", Usage: "scratch `DIR` for the build (default $TMPDIR)"},
		&cli.BoolFlag{Name: "quiet", Usage: "print errors only"},
		&cli.StringFlag{Name: "apt-root", Value: "/", EnvVars: []string{"ICOS_APT_ROOT"}, Usage: "`DIR` whose etc/apt gives the Debian mirror (the Bazel chroot points it at a copy of the host's)"},
	}
}

func buildFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "builder-lock", Usage: "builder lock `FILE` (default: " + base.BuilderLockPath + " in the context directory's workspace)"},
		&cli.StringFlag{Name: "builder-cache", EnvVars: []string{base.EnvBuilderCache}, Usage: "`DIR` keeping builder roots (default $XDG_CACHE_HOME/icos/builder or ~/.cache/icos/builder)"},
		&cli.StringFlag{Name: "store", EnvVars: []string{oci.EnvStore}, Usage: "OCI store `DIR` (default $XDG_CACHE_HOME/icos/oci or ~/.cache/icos/oci)"},
		&cli.StringFlag{Name: "tmpdir", Usage: "scratch `DIR` for the build (default $TMPDIR)"},
		&cli.BoolFlag{Name: "quiet", Usage: "print errors only (no build progress)"},
		&cli.StringFlag{Name: "apt-root", Value: "/", EnvVars: []string{"ICOS_APT_ROOT"}, Usage: "`DIR` whose etc/apt gives the Debian mirror (the Bazel chroot points it at a copy of the host's)"},
	}
}

// baseContext derives the context from --os/--context/--lock.
func baseContext(c *cli.Context) (base.Context, error) {
	bc := base.Context{OS: c.String("os"), Dir: c.String("context"), Variant: c.String("variant")}
	if bc.OS == "" && bc.Dir != "" {
		abs, err := filepath.Abs(bc.Dir)
		if err == nil && filepath.Base(abs) == "context" {
			bc.OS = filepath.Base(filepath.Dir(abs))
		}
	}
	if bc.OS == "" {
		return bc, fmt.Errorf("give --os (or --context ic-os/<os>/context)")
	}
	if bc.Dir == "" {
		bc.Dir = filepath.Join("ic-os", bc.OS, "context")
	}
	return bc, nil
}

func openStore(c *cli.Context) (*oci.Store, error) {
	if d := c.String("store"); d != "" {
		return oci.Open(d)
	}
	return oci.OpenDefault()
}

func buildOptions(c *cli.Context) (base.BuildOptions, error) {
	st, err := openStore(c)
	if err != nil {
		return base.BuildOptions{}, err
	}
	b := base.BuildOptions{Store: st, TmpDir: c.String("tmpdir"), AptRoot: c.String("apt-root")}
	if !c.Bool("quiet") {
		b.Log = os.Stderr
	}
	return b, nil
}

// builderLockPath returns --builder-lock, else the builder lock of the
// workspace holding dir.
func builderLockPath(c *cli.Context, dir string) (string, error) {
	if p := c.String("builder-lock"); p != "" {
		return p, nil
	}
	return base.FindBuilderLock(dir)
}

// ensureBuilder reads the builder lock (found from dir) and makes or
// checks its root.
func ensureBuilder(c *cli.Context, dir string) (*base.Builder, error) {
	p, err := builderLockPath(c, dir)
	if err != nil {
		return nil, err
	}
	bl, err := base.ReadBuilderLock(p)
	if err != nil {
		return nil, err
	}
	cache := c.String("builder-cache")
	if cache == "" {
		if cache, err = base.DefaultBuilderCache(); err != nil {
			return nil, err
		}
	}
	opt := base.BuilderOptions{Cache: cache, TmpDir: c.String("tmpdir"), AptRoot: c.String("apt-root")}
	if !c.Bool("quiet") {
		opt.Log = os.Stderr
	}
	return base.EnsureBuilder(bl, opt)
}

func builderEnsure(c *cli.Context) error {
	b, err := ensureBuilder(c, ".")
	if err != nil {
		return err
	}
	fmt.Println(b.Root)
	return nil
}

func builderBump(c *cli.Context) error {
	p, err := builderLockPath(c, ".")
	if err != nil {
		return err
	}
	req, err := base.Lists(filepath.Join(filepath.Dir(p), "packages"))
	if err != nil {
		return err
	}
	opt := base.BuilderOptions{TmpDir: c.String("tmpdir"), AptRoot: c.String("apt-root")}
	if !c.Bool("quiet") {
		opt.Log = os.Stderr
	}
	bl, err := base.BumpBuilder(req, opt)
	if err != nil {
		return err
	}
	if err := base.WriteBuilderLock(p, bl); err != nil {
		return err
	}
	r := bl.Ref()
	fmt.Println(r.ID)
	fmt.Fprintf(os.Stderr, "icos: wrote %s (%d packages: mmdebstrap %s, apt %s, dpkg %s); re-lock every base image with icos base bump\n",
		p, len(bl.Packages), r.Tools["mmdebstrap"], r.Tools["apt"], r.Tools["dpkg"])
	return nil
}

func readContextLock(c *cli.Context) (base.Context, *base.Lock, error) {
	if c.IsSet("lock") {
		l, err := base.ReadLock(c.String("lock"))
		if err != nil {
			return base.Context{}, nil, err
		}
		dir := c.String("context")
		if dir == "" {
			dir = filepath.Dir(c.String("lock"))
		}
		return base.Context{Dir: dir, OS: l.OS, Variant: l.Variant, LockFile: c.String("lock")}, l, nil
	}
	bc, err := baseContext(c)
	if err != nil {
		return bc, nil, err
	}
	l, err := base.ReadLock(bc.LockPath())
	if err != nil {
		return bc, nil, err
	}
	bc.OS, bc.Variant = l.OS, l.Variant
	return bc, l, nil
}

func baseBuild(c *cli.Context) error {
	bc, l, err := readContextLock(c)
	if err != nil {
		return err
	}
	b, err := buildOptions(c)
	if err != nil {
		return err
	}
	if b.Builder, err = ensureBuilder(c, bc.Dir); err != nil {
		return err
	}
	res, err := base.BuildLocked(l, b)
	if err != nil {
		return err
	}
	fmt.Println(res.Digest)
	if l.Image.Digest != res.Digest.String() {
		fmt.Fprintf(os.Stderr, "icos: note: the lock records %s (run icos base verify for the differing files)\n", l.Image.Digest)
	}
	return nil
}

func baseVerify(c *cli.Context) error {
	bc, l, err := readContextLock(c)
	if err != nil {
		return err
	}
	b, err := buildOptions(c)
	if err != nil {
		return err
	}
	if b.Builder, err = ensureBuilder(c, bc.Dir); err != nil {
		return err
	}
	res, err := base.Verify(l, b)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s (%s): reproduced %s\n", l.OS, l.Variant, l.Debian.Suite, res.Digest)
	return nil
}

// aptKnows returns a checker backed by one `apt-cache pkgnames` call: the
// package names in the host's apt indexes.
func aptKnows() (base.PackageChecker, error) {
	out, err := exec.Command("apt-cache", "pkgnames").Output()
	if err != nil {
		return nil, fmt.Errorf("apt-cache pkgnames: %w", err)
	}
	names := map[string]bool{}
	for _, n := range strings.Fields(string(out)) {
		names[n] = true
	}
	return func(name string) (bool, error) { return names[name], nil }, nil
}

func baseBump(c *cli.Context) error {
	bc, err := baseContext(c)
	if err != nil {
		return err
	}
	b, err := buildOptions(c)
	if err != nil {
		return err
	}
	if b.Builder, err = ensureBuilder(c, bc.Dir); err != nil {
		return err
	}
	opt := base.BumpOptions{Context: bc, Epoch: c.Int64("epoch"), Build: b, Repo: c.String("repository")}
	if !c.Bool("no-check") {
		if opt.Check, err = aptKnows(); err != nil {
			return err
		}
	}
	l, err := base.Bump(opt)
	if err != nil {
		return err
	}
	fmt.Println(l.Image.Digest)
	if reg := c.String("push"); reg != "" {
		h, err := oci.ParseDigest(l.Image.Digest)
		if err != nil {
			return err
		}
		ref := l.Repositories([]string{reg})[0] + ":" + l.PushTag()
		pushed, err := b.Store.Push(context.Background(), h, ref)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "icos: pushed", pushed, "as", ref)
	}
	fmt.Fprintf(os.Stderr, "icos: wrote %s (%d packages, epoch %s)\n", bc.LockPath(), len(l.Packages), strconv.FormatInt(l.SourceDateEpoch, 10))
	return nil
}

func baseFetch(c *cli.Context) error {
	bc, l, err := readContextLock(c)
	if err != nil {
		return err
	}
	b, err := buildOptions(c)
	if err != nil {
		return err
	}
	opt := base.FetchOptions{
		Registries:    append(c.StringSlice("registry"), oci.RegistriesFromEnv()...),
		BuildMissing:  c.Bool("build-missing"),
		AllowUnpinned: c.Bool("allow-unpinned"),
		Build:         b,
		Log:           os.Stderr,
		Builder:       func() (*base.Builder, error) { return ensureBuilder(c, bc.Dir) },
	}
	res, err := base.FetchOrBuild(c.Context, l, bc, b.Store, opt)
	if err != nil {
		return err
	}
	if dir := c.String("oci-layout"); dir != "" {
		if err := b.Store.Export(res.Digest, dir); err != nil {
			return err
		}
	}
	if f := c.String("status"); f != "" {
		state := "pinned"
		if !res.Pinned {
			state = "unpinned"
		}
		if err := os.WriteFile(f, []byte(state+" "+res.Digest.String()+"\n"), 0o644); err != nil {
			return fmt.Errorf("--status: %w", err)
		}
	}
	fmt.Println(res.Digest)
	return nil
}

func exists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}

// checkedLock is one lock file as baseCheck sees it.
type checkedLock struct {
	path     string
	debian   base.Debian
	packages []base.Package
}

// baseCheck reports, per lock, whether the archive still serves every
// locked package; it exits 3 when one does not.
func baseCheck(c *cli.Context) error {
	paths := c.Args().Slice()
	if len(paths) == 0 {
		bl, err := base.FindBuilderLock(".")
		if err != nil {
			return err
		}
		root := strings.TrimSuffix(bl, base.BuilderLockPath)
		locks, _ := filepath.Glob(filepath.Join(root, "ic-os/*/context/base*.lock.json"))
		paths = append([]string{bl}, locks...)
		if boot := filepath.Join(root, bootloader.LockPath); exists(boot) {
			paths = append(paths, boot)
		}
		for i, p := range paths {
			if rel, err := filepath.Rel(root, p); err == nil {
				paths[i] = rel
			}
		}
	}
	var locks []checkedLock
	for _, p := range paths {
		switch filepath.Base(p) {
		case filepath.Base(base.BuilderLockPath):
			bl, err := base.ReadBuilderLock(p)
			if err != nil {
				return err
			}
			locks = append(locks, checkedLock{p, bl.Debian, bl.Packages})
			continue
		case filepath.Base(bootloader.LockPath):
			bl, err := bootloader.ReadLock(p)
			if err != nil {
				return err
			}
			locks = append(locks, checkedLock{p, bl.Debian, bl.BasePackages()})
			continue
		}
		l, err := base.ReadLock(p)
		if err != nil {
			return err
		}
		locks = append(locks, checkedLock{p, l.Debian, l.Packages})
	}
	indexes := map[string]*base.ArchiveIndex{} // one download per package source
	var expired []string
	for _, l := range locks {
		key := strings.Join([]string{l.debian.Suite, strings.Join(l.debian.Components, ","), l.debian.Architecture}, " ")
		idx := indexes[key]
		if idx == nil {
			var err error
			if idx, err = base.FetchArchiveIndex(c.String("apt-root"), l.debian, c.String("tmpdir")); err != nil {
				return err
			}
			indexes[key] = idx
		}
		gone := idx.Expired(l.packages)
		if len(gone) == 0 {
			fmt.Printf("%s: served (%d packages)\n", l.path, len(l.packages))
			continue
		}
		expired = append(expired, l.path)
		fmt.Printf("%s: expired, %d of %d packages no longer served:\n", l.path, len(gone), len(l.packages))
		for _, g := range gone {
			fmt.Printf("  %s\n", g)
		}
	}
	if f := c.String("expired"); f != "" {
		var b strings.Builder
		for _, p := range expired {
			b.WriteString(p + "\n")
		}
		if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
			return fmt.Errorf("--expired: %w", err)
		}
	}
	if len(expired) > 0 {
		return cli.Exit(fmt.Sprintf("%d of %d locks expired: re-lock them with icos base bump (icos base builder bump first for the builder lock; "+
			"icos bootloader bump for %s), or run tools/base-relock.sh --expired", len(expired), len(locks), filepath.Base(bootloader.LockPath)), 3)
	}
	return nil
}
