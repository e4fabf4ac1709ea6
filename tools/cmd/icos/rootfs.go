package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/urfave/cli/v2"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/icos-build/icos/tools/oci"
	"github.com/icos-build/icos/tools/rootfs"
)

func init() {
	register(&cli.Command{
		Name:      "rootfs",
		Usage:     "flatten a base image and apply a spec: the normalized rootfs tar of an IC-OS image",
		ArgsUsage: " ",
		Description: "Layers are applied bottom-up (whiteouts, opaque dirs), then the JSON spec (files, dirs, " +
			"symlinks, removals, users/groups, systemd units, /etc/hostname, hosts, resolv.conf); the tar lists " +
			"parents first, sorted, numeric owners. See tools/rootfs/README.md for the spec format.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "image", Usage: "base image `DIGEST` (sha256:...) in the OCI store (or in --oci-layout)"},
			&cli.StringFlag{Name: "base-tar", Usage: "start from this tar `FILE` (e.g. the flatten of the base image by an earlier icos rootfs) instead of an image"},
			&cli.BoolFlag{Name: "empty", Usage: "start from an empty tree instead of a base image (a tar of just the spec's files, e.g. a data partition)"},
			&cli.StringFlag{Name: "oci-layout", Usage: "read the image from this OCI layout `DIR` instead of the store"},
			&cli.StringFlag{Name: "store", EnvVars: []string{oci.EnvStore}, Usage: "OCI store `DIR` (default $XDG_CACHE_HOME/icos/oci or ~/.cache/icos/oci)"},
			&cli.StringFlag{Name: "spec", Usage: "JSON spec `FILE` applied on top of the image (optional)"},
			&cli.StringFlag{Name: "spec-base", Usage: "`DIR` the spec's file sources are relative to (default: the spec file's directory)"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Required: true, Usage: "rootfs tar `FILE` to write"},
			&cli.Int64Flag{Name: "mtime", Value: -1, Usage: "set every entry's mtime to `SECONDS` since the epoch (default: keep the layers' times; spec entries get 0)"},
			&cli.StringSliceFlag{Name: "only", Usage: "keep just this `DIR` with what is below it, and its parents (repeatable, e.g. boot)"},
			&cli.StringSliceFlag{Name: "exclude", Usage: "leave out entries matching `GLOB` and what is below them (repeatable, e.g. 'run/*')"},
			&cli.StringFlag{Name: "tmpdir", Usage: "spool `DIR` for file contents (default $TMPDIR)"},
		},
		Action: noArgs(rootfsAction),
	})
}

func rootfsAction(c *cli.Context) error {
	var want v1.Hash
	if s := c.String("image"); s != "" {
		h, err := oci.ParseDigest(s)
		if err != nil {
			return err
		}
		want = h
	}
	var img v1.Image
	var err error
	switch {
	case c.String("base-tar") != "" || c.Bool("empty"):
		if c.String("base-tar") != "" && c.Bool("empty") {
			return fmt.Errorf("--base-tar and --empty exclude each other")
		}
		if c.String("oci-layout") != "" || want != (v1.Hash{}) {
			return fmt.Errorf("--base-tar and --empty exclude --image and --oci-layout")
		}
	case c.String("oci-layout") != "":
		img, err = oci.OpenLayout(c.String("oci-layout"), want)
	case want != (v1.Hash{}):
		var st *oci.Store
		if st, err = openStore(c); err == nil {
			img, err = st.Image(want)
		}
	default:
		return fmt.Errorf("give --image DIGEST, --oci-layout DIR or --empty")
	}
	if err != nil {
		return err
	}
	opt := rootfs.Options{Image: img, BaseTar: c.String("base-tar"), Output: c.String("output"), TmpDir: c.String("tmpdir")}
	opt.Exclude = c.StringSlice("exclude")
	opt.Only = c.StringSlice("only")
	if m := c.Int64("mtime"); m >= 0 {
		opt.ModTime = &m
	}
	if sp := c.String("spec"); sp != "" {
		if opt.Spec, err = rootfs.LoadSpec(sp); err != nil {
			return err
		}
		opt.SpecBase = c.String("spec-base")
		if opt.SpecBase == "" {
			opt.SpecBase = filepath.Dir(sp)
		}
	}
	st, err := rootfs.Build(opt)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "icos rootfs: %s: %d entries, %d files, %d hard links, %d bytes of file data\n",
		opt.Output, st.Entries, st.Files, st.Hardlinks, st.Bytes)
	return nil
}
