// Package testutil holds helpers shared by the tests of the icos tools:
// finding the external programs the tests check outputs with, and running
// the test binary again in another environment to check that outputs do
// not depend on it.
//
// Nothing here reads the source tree, so the helpers work the same under
// go test and under Bazel.
package testutil

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/icos-build/icos/tools/internal/hosttool"
)

// Tool returns the path of the external program name, looked up in PATH and
// then in /usr/sbin and /sbin (see hosttool.Find). When the program is
// missing the test fails, naming debianPackage as the package to install:
// the tests that need a tool must not pass without it.
func Tool(t testing.TB, name, debianPackage string) string {
	t.Helper()
	p, err := hosttool.Find(name, debianPackage)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// Environment variables handing a helper process its job.
const (
	helperEnv = "ICOS_TESTUTIL_HELPER"       // name of the helper test
	umaskEnv  = "ICOS_TESTUTIL_HELPER_UMASK" // octal umask
	argsEnv   = "ICOS_TESTUTIL_HELPER_ARGS"  // JSON arguments
)

// Env is the environment a helper process started by Rerun runs in, besides
// a TMPDIR of its own.
type Env struct {
	// TZ is the value of the TZ variable in the helper, for example
	// "Pacific/Chatham".
	TZ string
	// Umask is the umask of the helper, for example 0o077.
	Umask int
}

// String describes e for messages.
func (e Env) String() string { return fmt.Sprintf("TZ=%s umask %03o", e.TZ, e.Umask) }

// Rerun runs the current test binary again, running only the test function
// named helper, with the TZ and umask of env and TMPDIR set to a new empty
// directory. The helper receives args (encoded as JSON) through HelperArgs.
// Rerun fails the test if the helper fails or does not leave the file out,
// and returns the contents of out.
//
// Determinism tests build the same output under two environments this way
// and compare the bytes.
func Rerun(t testing.TB, helper string, env Env, out string, args any) []byte {
	t.Helper()
	js, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+helper+"$", "-test.count=1")
	cmd.Env = append(childEnviron(),
		"TZ="+env.TZ,
		"TMPDIR="+t.TempDir(),
		helperEnv+"="+helper,
		umaskEnv+"="+fmt.Sprintf("%o", env.Umask),
		argsEnv+"="+string(js))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper %s (%v): %v\n%s", helper, env, err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("helper %s (%v): %v", helper, env, err)
	}
	return b
}

// HelperArgs reports whether t is running as the helper of a Rerun call. If
// so, it sets the umask Rerun asked for and decodes the arguments into args
// (a pointer). In a normal test run it returns false, and the helper test
// should return at once.
func HelperArgs(t testing.TB, args any) bool {
	t.Helper()
	if os.Getenv(helperEnv) != t.Name() {
		return false
	}
	var mask int
	if _, err := fmt.Sscanf(os.Getenv(umaskEnv), "%o", &mask); err != nil {
		t.Fatalf("%s: %v", umaskEnv, err)
	}
	syscall.Umask(mask)
	if err := json.Unmarshal([]byte(os.Getenv(argsEnv)), args); err != nil {
		t.Fatalf("%s: %v", argsEnv, err)
	}
	return true
}

// childEnviron is the environment of this process without the variables by
// which a test runner (Bazel's rules_go) selects or shards tests: the helper
// runs its one test whatever the runner picked for this process.
func childEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "TESTBRIDGE_TEST_ONLY", "TEST_TOTAL_SHARDS", "TEST_SHARD_INDEX", "TEST_SHARD_STATUS_FILE":
			continue
		}
		env = append(env, kv)
	}
	return env
}
