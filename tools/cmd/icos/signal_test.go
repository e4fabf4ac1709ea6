package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary run as the icos command (ICOS_TEST_MAIN=1),
// so the signal tests start a real icos process without needing a Go
// toolchain at test time.
func TestMain(m *testing.M) {
	if os.Getenv("ICOS_TEST_MAIN") == "1" {
		os.Args = append([]string{"icos"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	// Children inherit ignored signals (and icos rightly keeps them
	// ignored), so a test run started under nohup or by a runner that
	// ignores SIGHUP would see its signalled children never end. Catching
	// such a signal here (and dropping it, as ignoring did) makes the
	// children start with the default disposition.
	for _, sig := range []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM} {
		if signal.Ignored(sig) {
			signal.Notify(make(chan os.Signal, 1), sig)
		}
	}
	os.Exit(m.Run())
}

// waitBounded waits for cmd to end; a run still going after a minute is
// killed and the test fails (a hang, not a measurement).
func waitBounded(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%q did not end within a minute of its signal", cmd.Args)
	}
}

// icosCmd returns an icos process (the test binary as icos) running args.
func icosCmd(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "ICOS_TEST_MAIN=1")
	return cmd
}

// temps lists the outfile temporaries (".tmp-" names) in dir.
func temps(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var ns []string
	for _, e := range ents {
		if strings.Contains(e.Name(), ".tmp-") {
			ns = append(ns, e.Name())
		}
	}
	return ns
}

// startBlocked starts cmd (icos reading its input tar from standard input)
// with standard input from a pipe the test keeps open and empty, and returns
// once the command has created its temporary output in dir: it is then
// blocked reading the tar.
func startBlocked(t *testing.T, dir string, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	// Waiting for a state, not timing anything: the deadline only bounds a
	// hang.
	for deadline := time.Now().Add(20 * time.Second); len(temps(t, dir)) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%q created no temporary output; stderr: %s", cmd.Args, stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return cmd
}

// TestSignalRemovesTemps interrupts real runs blocked reading their input:
// the temporary output must be gone and the exit status 128+signal.
func TestSignalRemovesTemps(t *testing.T) {
	commands := []struct {
		name string
		args func(out string) []string
		out  string
	}{
		{"ext4", func(out string) []string {
			return []string{"ext4", "--input", "-", "--output", out, "--size", "64M"}
		}, "root.img"},
		{"ext4 tar.zst", func(out string) []string {
			return []string{"ext4", "--input", "-", "--output", out, "--size", "64M"}
		}, "root.img.tar.zst"},
		{"vfat", func(out string) []string {
			return []string{"vfat", "--input", "-", "--output", out, "--size", "32M"}
		}, "efi.img"},
		{"tar normalize", func(out string) []string {
			return []string{"tar", "normalize", "--input", "-", "--output", out}
		}, "n.tar"},
	}
	signals := []syscall.Signal{syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP}
	for _, c := range commands {
		for _, sig := range signals {
			t.Run(c.name+"/"+sig.String(), func(t *testing.T) {
				dir := t.TempDir()
				cmd := startBlocked(t, dir, icosCmd(c.args(filepath.Join(dir, c.out))...))
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				waitBounded(t, cmd)
				if got, want := cmd.ProcessState.ExitCode(), 128+int(sig); got != want {
					t.Errorf("exit status %d (%v), want %d", got, cmd.ProcessState, want)
				}
				if left := temps(t, dir); len(left) != 0 {
					t.Errorf("left behind: %q", left)
				}
				if _, err := os.Stat(filepath.Join(dir, c.out)); err == nil {
					t.Errorf("%s exists after the interrupted run", c.out)
				}
			})
		}
	}
}

// TestIgnoredSignalStaysIgnored starts runs with a signal ignored (as nohup
// and background jobs of scripts do), sends it and then SIGTERM: the run
// must ignore the first and end on SIGTERM. (Pending signals are delivered
// lowest number first, so a handled SIGHUP or SIGINT would win.)
func TestIgnoredSignalStaysIgnored(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGHUP, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			dir := t.TempDir()
			// A shell ignores sig and execs icos, which inherits that.
			trap := fmt.Sprintf(`trap "" %d; exec "$0" "$@"`, sig)
			cmd := exec.Command("sh", "-c", trap, os.Args[0],
				"ext4", "--input", "-", "--output", filepath.Join(dir, "root.img"), "--size", "8M")
			cmd.Env = append(os.Environ(), "ICOS_TEST_MAIN=1")
			startBlocked(t, dir, cmd)
			cmd.Process.Signal(sig)
			cmd.Process.Signal(syscall.SIGTERM)
			waitBounded(t, cmd)
			if got, want := cmd.ProcessState.ExitCode(), 128+int(syscall.SIGTERM); got != want {
				t.Errorf("exit status %d (%v), want %d", got, cmd.ProcessState, want)
			}
			if left := temps(t, dir); len(left) != 0 {
				t.Errorf("left behind: %q", left)
			}
		})
	}
}

// TestKilledRunCleanedByNext kills a run outright (no handler runs), then
// makes the same output again: the killed run's temporary must be removed.
func TestKilledRunCleanedByNext(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "root.img")
	args := []string{"ext4", "--input", "-", "--output", out, "--size", "8M"}
	cmd := startBlocked(t, dir, icosCmd(args...))
	cmd.Process.Kill()
	cmd.Wait()
	if left := temps(t, dir); len(left) != 1 {
		t.Fatalf("SIGKILL left %q, want one temporary", left)
	}
	var tarBuf bytes.Buffer
	tw := tar.NewWriter(&tarBuf)
	tw.WriteHeader(&tar.Header{Name: "./", Typeflag: tar.TypeDir, Mode: 0o755})
	tw.Close()
	next := icosCmd(args...)
	next.Stdin = &tarBuf
	if b, err := next.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if left := temps(t, dir); len(left) != 0 {
		t.Errorf("the next run left %q", left)
	}
	if _, err := os.Stat(out); err != nil {
		t.Error(err)
	}
}
