package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/zst"
)

// zstInputs writes a 3 MiB partition image compressed the way icos
// compresses them, the same file cut 10 bytes short, cut in half, cut
// before its content checksum, and with bytes after its frame, into a new
// directory, and returns the directory and the file names.
func zstInputs(t *testing.T) (dir string, good string, bad []string) {
	t.Helper()
	dir = t.TempDir()
	data := make([]byte, 3<<20)
	copy(data[1<<20:], bytes.Repeat([]byte("root filesystem "), 1000))
	copy(data[len(data)-100:], "the last bytes of the image")
	raw := filepath.Join(dir, "raw")
	if err := os.WriteFile(raw, data, 0o644); err != nil {
		t.Fatal(err)
	}
	good = filepath.Join(dir, "root.img.zst")
	if err := compressFile(raw, good, zst.DefaultLevel); err != nil {
		t.Fatal(err)
	}
	os.Remove(raw)
	z, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	n := len(z)
	for _, v := range []struct {
		name string
		data []byte
	}{
		{"cut10", z[:n-10]},
		{"half", z[:n/2]},
		{"nochecksum", z[:n-4]},
		{"trailing", append(append([]byte{}, z...), "junk"...)},
	} {
		p := filepath.Join(dir, v.name+".img.zst")
		if err := os.WriteFile(p, v.data, 0o644); err != nil {
			t.Fatal(err)
		}
		bad = append(bad, p)
	}
	return dir, good, bad
}

// TestZstInputRejected: icos disk, icos lvm and icos pack given a
// truncated .zst image, or one with bytes after its frame, fail naming the
// file and the compressed offset, and leave no output behind; the intact
// file works.
func TestZstInputRejected(t *testing.T) {
	in, good, bad := zstInputs(t)
	csv := filepath.Join(in, "partitions.csv")
	if err := os.WriteFile(csv, []byte("# name,start,size,type,uuid\nA_root,,4M,L,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	vcsv := filepath.Join(in, "volumes.csv")
	if err := os.WriteFile(vcsv, []byte("# name,start,size,uuid\nA_root,,4M,0BQNUA-dzGu-wvW5-mMRh-Ptr6-J6DT-Ff2a9x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	commands := []struct {
		name string
		args func(out, img string) []string
	}{
		{"disk", func(out, img string) []string {
			return []string{"disk", "--partitions", csv, "--output", filepath.Join(out, "disk.img"), "--size", "8M", "--image", "A_root=" + img}
		}},
		{"disk to tar.zst", func(out, img string) []string {
			return []string{"disk", "--partitions", csv, "--output", filepath.Join(out, "disk-img.tar.zst"), "--size", "8M", "--image", "A_root=" + img}
		}},
		{"lvm", func(out, img string) []string {
			return []string{"lvm", "--volumes", vcsv, "--output", filepath.Join(out, "hostlvm.img"), "--size", "16M", "--vg-name", "hostlvm",
				"--vg-uuid", "Y9Tqbl-20VK-Yapy-Gax6-8Lzf-DcH2-tr2Ynq", "--pv-uuid", "ABCDEFghijklmnopqrstuvwxyz012345", "--image", "A_root=" + img}
		}},
		{"pack", func(out, img string) []string {
			return []string{"pack", "-o", filepath.Join(out, "update-img.tar.zst"), img}
		}},
	}
	for _, c := range commands {
		for _, img := range append([]string{good}, bad...) {
			t.Run(c.name+"/"+filepath.Base(img), func(t *testing.T) {
				out := t.TempDir()
				err := newApp().Run(append([]string{"icos"}, c.args(out, img)...))
				ents, _ := os.ReadDir(out)
				if img == good {
					if err != nil || len(ents) == 0 {
						t.Fatalf("err = %v, %d outputs", err, len(ents))
					}
					return
				}
				if !errors.Is(err, zst.ErrTruncated) && !errors.Is(err, zst.ErrCorrupt) {
					t.Fatalf("err = %v, want a zst error", err)
				}
				if msg := err.Error(); !strings.Contains(msg, img) || !strings.Contains(msg, "zst: offset ") {
					t.Errorf("error %q does not name the file and offset", msg)
				}
				if len(ents) != 0 {
					t.Errorf("output left behind after an error: %v", ents)
				}
			})
		}
	}
}

// icosMainEnv makes TestZstInputExitHelper run main with the arguments in
// the variable (a JSON array).
const icosMainEnv = "ICOS_TEST_MAIN_ARGS"

// TestZstInputExit runs the command as a process: icos disk with the image
// cut 10 bytes short exits 1, prints the error and leaves no output.
func TestZstInputExit(t *testing.T) {
	in, _, bad := zstInputs(t)
	csv := filepath.Join(in, "partitions.csv")
	if err := os.WriteFile(csv, []byte("# name,start,size,type,uuid\nA_root,,4M,L,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	args := []string{"icos", "disk", "--partitions", csv, "--output", filepath.Join(out, "disk.img"), "--size", "8M", "--image", "A_root=" + bad[0]}
	cmd := exec.Command(os.Args[0], "-test.run=^TestZstInputExitHelper$", "-test.count=1")
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		// Drop the variables by which Bazel's test runner picks tests.
		if !strings.HasPrefix(kv, "TESTBRIDGE_") && !strings.HasPrefix(kv, "TEST_TOTAL_SHARDS=") && !strings.HasPrefix(kv, "TEST_SHARD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, icosMainEnv+"="+string(js))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1; stderr:\n%s", err, stderr.String())
	}
	want := fmt.Sprintf("icos disk: gpt: partition A_root: sparse: copying %s: zst: offset ", bad[0])
	if !strings.HasPrefix(stderr.String(), want) {
		t.Errorf("stderr %q, want it to start with %q", stderr.String(), want)
	}
	if ents, _ := os.ReadDir(out); len(ents) != 0 {
		t.Errorf("output left behind: %v", ents)
	}
}

func TestZstInputExitHelper(t *testing.T) {
	args := os.Getenv(icosMainEnv)
	if args == "" {
		return
	}
	if err := json.Unmarshal([]byte(args), &os.Args); err != nil {
		t.Fatal(err)
	}
	main()
}
