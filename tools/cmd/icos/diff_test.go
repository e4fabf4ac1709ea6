package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// TestDiffCommand checks the output and exit status of icos diff: 0 and an
// "identical" line for equal files, 1 and one line per difference otherwise,
// 2 for errors.
func TestDiffCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("a.txt", "1.0.0\n")
	a2 := write("a2.txt", "1.0.0\n")
	b := write("b.txt", "1.0.1\n")
	for _, tc := range []struct {
		name     string
		args     []string
		wantOut  string
		wantCode int
		wantErr  string // start of the error of a failed run
	}{
		{"identical", []string{a, a2}, "identical (sha256 59854984853104df5c353e2f681a15fc7924742f9a2e468c29af248dce45ce03)\n", 0, ""},
		{"different", []string{a, b}, "content \"1.0.0\\n\" != \"1.0.1\\n\"\n", 1, ""},
		{"one argument", []string{a}, "", 2, "icos diff: want two arguments"},
		{"missing file", []string{a, filepath.Join(dir, "nope")}, "", 2, "icos diff: imgdiff: open " + filepath.Join(dir, "nope") + ": "},
		{"bad max-ranges", []string{"--max-ranges", "0", a, b}, "", 2, "icos diff: --max-ranges must be at least 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			code := 0
			app := newApp()
			app.Writer = &out
			app.ExitErrHandler = func(_ *cli.Context, err error) {
				if ec, ok := err.(cli.ExitCoder); ok {
					code = ec.ExitCode()
				}
			}
			err := app.Run(append([]string{"icos", "diff"}, tc.args...))
			if code != tc.wantCode || out.String() != tc.wantOut {
				t.Errorf("exit %d, output %q (err %v); want exit %d, output %q", code, out.String(), err, tc.wantCode, tc.wantOut)
			}
			if tc.wantCode == 2 && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)) {
				t.Errorf("error %v, want it to start with %q", err, tc.wantErr)
			}
		})
	}
}
