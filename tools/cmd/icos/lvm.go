package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/lvm"
)

func init() {
	register(&cli.Command{
		Name:  "lvm",
		Usage: "write an LVM2 physical volume image with one volume group and linear logical volumes",
		UsageText: "icos lvm --volumes volumes.csv --output hostlvm.img --size SIZE --vg-name hostlvm " +
			"--vg-uuid UUID --pv-uuid UUID [--creation-time 0] [--creation-host NAME] [--image LVNAME=FILE ...]",
		Description: "Writes the PV label, one metadata area (at 4 KiB, text at seqno 1) and data from 1 MiB on, " +
			"with 4 MiB extents, without the lvm tools. Every UUID, the creation time and host come from flags. " +
			"LV images (raw, or *.zst) are copied sparsely into their volumes. The format of volumes.csv is " +
			"documented in package tools/lvm.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "volumes", Required: true, Usage: "logical volume table `FILE` (name,start,size,uuid[,comment] rows)"},
			&cli.StringFlag{Name: "output", Required: true, Usage: "PV image `FILE` to write"},
			&cli.StringFlag{Name: "size", Required: true, Usage: "PV `SIZE`: " + sizeUsage + ", e.g. 90G"},
			&cli.StringFlag{Name: "vg-name", Required: true, Usage: "volume group `NAME`"},
			&cli.StringFlag{Name: "vg-uuid", Required: true, Usage: "volume group `UUID` (32 characters, optionally grouped 6-4-4-4-4-4-6)"},
			&cli.StringFlag{Name: "pv-uuid", Required: true, Usage: "physical volume `UUID` (32 characters, optionally grouped 6-4-4-4-4-4-6)"},
			&cli.Int64Flag{Name: "creation-time", Value: 0, Usage: "creation time in `SECONDS` since 1970 stored for the VG and every LV"},
			&cli.StringFlag{Name: "creation-host", Value: "localhost", Usage: "creation host `NAME` stored for the VG and every LV"},
			&cli.StringFlag{Name: "pv-device", Value: "/dev/sda3", Usage: "device `PATH` stored as pv0's hint (lvm updates it when it finds the PV)"},
			&cli.StringSliceFlag{Name: "image", Usage: "logical volume image `LVNAME=FILE` (FILE may end in .zst); repeatable"},
		},
		Action: noArgs(runLVM),
	})
}

func runLVM(c *cli.Context) error {
	size, err := sizeFlag(c, "size")
	if err != nil {
		return err
	}
	images, err := diskParseImages(c.StringSlice("image"))
	if err != nil {
		return err
	}
	in, err := os.Open(c.String("volumes"))
	if err != nil {
		return fmt.Errorf("--volumes: %w", err)
	}
	vols, err := lvm.ParseVolumes(in, c.String("volumes"), lvm.DefaultExtentSize)
	in.Close()
	if err != nil {
		return err
	}
	layout, err := lvm.Plan(lvm.Config{
		Size:         size,
		VGName:       c.String("vg-name"),
		VGUUID:       c.String("vg-uuid"),
		PVUUID:       c.String("pv-uuid"),
		CreationTime: c.Int64("creation-time"),
		CreationHost: c.String("creation-host"),
		PVDevice:     c.String("pv-device"),
		Volumes:      vols,
	})
	if err != nil {
		return err
	}
	out, err := createImage(c.String("output"), "")
	if err != nil {
		return err
	}
	defer out.Abort()
	if err := layout.Write(out.File.File, images); err != nil {
		return err
	}
	return out.Commit()
}
