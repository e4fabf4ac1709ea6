package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/outfile"
)

func init() {
	register(&cli.Command{
		Name:  "oci",
		Usage: "small OCI image tools",
		Subcommands: []*cli.Command{{
			Name:      "from-tar",
			Usage:     "make a single-layer OCI image layout from a tar (a local, unpinned base image)",
			UsageText: "icos oci from-tar --input rootfs.tar --output-layout DIR [--created 0]",
			Description: "The layer is the tar as given (normalize it first with icos tar normalize), " +
				"gzip-compressed; the config has os linux, architecture amd64 and the --created time, " +
				"and no history times. The same tar always gives the same manifest digest, printed on " +
				"standard output. DIR must not exist; it is written beside itself and renamed into place.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Required: true, Usage: "layer tar `FILE`"},
				&cli.StringFlag{Name: "output-layout", Aliases: []string{"o"}, Required: true, Usage: "OCI image layout `DIR` to create"},
				&cli.Int64Flag{Name: "created", Usage: "image creation time, Unix `SECONDS` (SOURCE_DATE_EPOCH)"},
			},
			Action: noArgs(ociFromTar),
		}},
	})
}

func ociFromTar(c *cli.Context) error {
	dest := c.String("output-layout")
	if _, err := os.Stat(dest); err == nil {
		ents, _ := os.ReadDir(dest)
		if len(ents) > 0 {
			return fmt.Errorf("%s exists and is not empty", dest)
		}
		os.Remove(dest)
	}
	layer, err := tarball.LayerFromFile(c.String("input"), tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("input"), err)
	}
	img, err := mutate.AppendLayers(mutate.MediaType(empty.Image, types.OCIManifestSchema1), layer)
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("input"), err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Created = v1.Time{Time: time.Unix(c.Int64("created"), 0).UTC()}
	cfg.History = nil
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	tmp, err := outfile.CreateDir(dest, 0o755)
	if err != nil {
		return err
	}
	defer tmp.Abort()
	p, err := layout.Write(tmp.Name(), empty.Index)
	if err != nil {
		return fmt.Errorf("%s: %w", dest, err)
	}
	if err := p.AppendImage(img); err != nil {
		return fmt.Errorf("%s: %w", dest, err)
	}
	if err := fixedModes(tmp.Name()); err != nil {
		return err
	}
	if err := tmp.Commit(); err != nil {
		return err
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, d)
	return nil
}

// fixedModes gives every directory under root mode 0755 and every file
// 0644: go-containerregistry's layout writer leaves them to the umask, and
// an output's modes must not depend on who ran the build.
func fixedModes(root string) error {
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		mode := os.FileMode(0o644)
		if d.IsDir() {
			mode = 0o755
		}
		return os.Chmod(p, mode)
	})
}
