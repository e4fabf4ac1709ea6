package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestErrorPrefix: an error of a subcommand reads "icos <subcommand>: ..."
// with the subcommand named once, followed directly by the flag, file or
// package that the message is about.
func TestErrorPrefix(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "a.img")
	empty := filepath.Join(dir, "empty.tar")
	layout := filepath.Join(dir, "layout")
	for _, f := range []string{img, empty, filepath.Join(layout, "x")} {
		os.MkdirAll(filepath.Dir(f), 0o755)
		if err := os.WriteFile(f, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, "out")
	for _, tc := range []struct {
		args []string
		want string // the start of the message
	}{
		{[]string{"pack", "-o", out}, "icos pack: no input files given"},
		{[]string{"pack", "-o", out, "--level", "23", img}, "icos pack: --level 23: out of range 1..22"},
		{[]string{"pack", "-o", out, "--name-in-tar", "a/b", img}, "icos pack: " + img + `: entry name "a/b" must be a single file name`},
		{[]string{"oci", "from-tar", "-i", img, "-o", layout}, "icos oci from-tar: " + layout + " exists and is not empty"},
		{[]string{"tar", "normalize", "-i", empty, "-o", out}, "icos tar normalize: " + empty + ": empty input, not a tar"},
		{[]string{"ext4", "--input", empty, "--output", out, "--size", "8M"}, "icos ext4: " + empty + ": empty input, not a tar"},
		{[]string{"disk", "--partitions", img, "--output", out, "--size", "50X"}, "icos disk: --size: "},
		{[]string{"lvm", "--volumes", img, "--output", out, "--size", "64X", "--vg-name", "vg", "--vg-uuid", "u", "--pv-uuid", "u"}, "icos lvm: --size: "},
		{[]string{"vfat", "--output", out, "--size", "1M", "-i", empty, "--file", img + ":a"}, "icos vfat: give either --input or --file"},
		{[]string{"base", "build", "--variant", "prod"}, "icos base build: give --os"},
		{[]string{"verity", "-i", img, "-o", out, "--salt", "ab", "--uuid", "6a8e2c5d-1f3b-4c7e-9a0d-2b4f6e8a1c3e"}, "icos verity: empty data"},
		{[]string{"grubenv", "-o", out, "--set", "1a=x"}, `icos grubenv: variable name "1a": `},
		{[]string{"grubenv", "-i", img, "--list"}, "icos grubenv: --input " + img + ": block is 0 bytes, want 1024"},
		{[]string{"vm", "run", "--disk", img, "--memory", "2X"}, "icos vm run: --memory: "},
		{[]string{"vm", "run", "--disk", img, "--drive", "nvme::" + img}, "icos vm run: --drive: drive " + img + ": an nvme drive needs a serial"},
	} {
		t.Run(strings.Join(tc.args[:2], " "), func(t *testing.T) {
			err := newApp().Run(append([]string{"icos"}, tc.args...))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to start with %q", err, tc.want)
			}
			var ce *commandError
			if !errors.As(err, &ce) {
				t.Errorf("%T is not a commandError: main would print it with a second prefix", err)
			}
		})
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 3 {
		t.Errorf("the failed commands left files: %v", ents)
	}
}

// TestErrorBeforeAction: an error of the flag parser is no commandError,
// so main prints it as "icos: ...".
func TestErrorBeforeAction(t *testing.T) {
	err := newApp().Run([]string{"icos", "pack", "a.img"})
	var ce *commandError
	if err == nil || errors.As(err, &ce) || !strings.Contains(err.Error(), `"output"`) {
		t.Fatalf("error %v (%T), want the flag parser's about --output", err, err)
	}
}

func TestCommandErr(t *testing.T) {
	if commandErr("icos x", nil) != nil {
		t.Error("nil error wrapped")
	}
	status := cli.Exit("", 1)
	if got := commandErr("icos x", status); got != status {
		t.Errorf("exit status without a message: got %v, want it unchanged", got)
	}
	sentinel := errors.New("boom")
	err := commandErr("icos x y", sentinel)
	if err.Error() != "icos x y: boom" || !errors.Is(err, sentinel) {
		t.Errorf("got %q (wrapping: %v)", err, errors.Is(err, sentinel))
	}
	if _, ok := err.(cli.ExitCoder); ok {
		t.Error("a plain error became an ExitCoder: the cli package would exit the process")
	}
	for _, tc := range []struct{ path, msg, want string }{
		{"icos lvm", "lvm: line 3: x", "icos lvm: line 3: x"},
		{"icos oci from-tar", "from-tar: x", "icos oci from-tar: x"},
		{"icos lvm", "lvmx: y", "icos lvm: lvmx: y"},
		{"icos lvm", "gpt: lvm: y", "icos lvm: gpt: lvm: y"},
	} {
		if got := commandErr(tc.path, errors.New(tc.msg)).Error(); got != tc.want {
			t.Errorf("%s with %q: %q, want %q", tc.path, tc.msg, got, tc.want)
		}
	}
	err = commandErr("icos x", cli.Exit("3 locks expired", 3))
	ec, ok := err.(cli.ExitCoder)
	if !ok || ec.ExitCode() != 3 || err.Error() != "icos x: 3 locks expired" {
		t.Errorf("got %v (%T), want an ExitCoder with status 3 and the prefix", err, err)
	}
}
