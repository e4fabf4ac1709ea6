package testutil

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestTool(t *testing.T) {
	p := Tool(t, "sh", "dash")
	if !filepath.IsAbs(p) {
		t.Errorf("Tool(sh) = %q, want an absolute path", p)
	}
}

// TestRerunHelper writes what it sees of its environment to the file it is
// given; it does nothing in a normal test run.
func TestRerunHelper(t *testing.T) {
	var args struct{ Out, Text string }
	if !HelperArgs(t, &args) {
		return
	}
	f, err := os.Create(args.Out)
	if err != nil {
		t.Fatal(err)
	}
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	zone, _ := time.Now().Zone()
	if _, err := f.WriteString(args.Text + " " + st.Mode().Perm().String() + " " + zone + " " + filepath.Base(os.TempDir())); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestRerun(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	got := string(Rerun(t, "TestRerunHelper", Env{TZ: "UTC", Umask: 0o077}, out, map[string]string{"Out": out, "Text": "hi"}))
	if want := "hi -rw------- UTC "; len(got) <= len(want) || got[:len(want)] != want {
		t.Errorf("helper wrote %q, want %q followed by its TMPDIR", got, want)
	}
}
