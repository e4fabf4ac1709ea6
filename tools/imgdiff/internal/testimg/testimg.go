// Package testimg builds filesystem fixtures for the imgdiff tests with the
// tools people trust (mke2fs and debugfs from e2fsprogs), reproducibly:
// fixed time, UUID and hash seed.
package testimg

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// UUID and HashSeed are the fixed identifiers of every fixture.
const (
	UUID     = "0e0e0e0e-1111-2222-3333-444444444444"
	HashSeed = "5a5a5a5a-6666-7777-8888-999999999999"
	FakeTime = "1700000000"
)

// mke2fsConf is the mke2fs configuration of every fixture: the ext4
// defaults of e2fsprogs 1.47.0, written out so that newer mke2fs versions
// (whose defaults add orphan_file and metadata_csum_seed) make the same
// filesystems.
const mke2fsConf = `[defaults]
	base_features = sparse_super,large_file,filetype,resize_inode,dir_index,ext_attr
	default_mntopts = acl,user_xattr
	enable_periodic_fsck = 0
	blocksize = 4096
	inode_size = 256
	inode_ratio = 16384
[fs_types]
	ext4 = {
		features = has_journal,extent,huge_file,flex_bg,metadata_csum,64bit,dir_nlink,extra_isize
	}
	small = {
		blocksize = 1024
		inode_ratio = 4096
	}
	floppy = {
		blocksize = 1024
		inode_ratio = 8192
	}
	big = {
		inode_ratio = 32768
	}
	huge = {
		inode_ratio = 65536
	}
`

// Run runs a command with a fixed environment and fails the test on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return run(t, nil, name, args...)
}

func run(t testing.TB, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME="+FakeTime, "TZ=UTC", "LC_ALL=C")
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Mkfs makes an ext4 image of the given size ("64M") at img from the tree at
// dir, with extra mke2fs arguments (e.g. "-b", "4096").
func Mkfs(t testing.TB, img, dir, size string, extra ...string) {
	t.Helper()
	mke2fs := testutil.Tool(t, "mke2fs", "e2fsprogs")
	args := []string{"-q", "-F", "-t", "ext4", "-U", UUID, "-E", "hash_seed=" + HashSeed + ",root_owner=0:0"}
	args = append(args, extra...)
	args = append(args, "-d", dir, img, size)
	conf := filepath.Join(t.TempDir(), "mke2fs.conf")
	if err := os.WriteFile(conf, []byte(mke2fsConf), 0o644); err != nil {
		t.Fatal(err)
	}
	run(t, []string{"MKE2FS_CONFIG=" + conf}, mke2fs, args...)
}

// Debugfs runs debugfs requests against img (-w when write is set) and
// returns the output (stdout, without the version banner on stderr).
func Debugfs(t testing.TB, img string, write bool, requests ...string) string {
	t.Helper()
	debugfs := testutil.Tool(t, "debugfs", "e2fsprogs")
	f := filepath.Join(t.TempDir(), "cmds")
	if err := os.WriteFile(f, []byte(strings.Join(requests, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-f", f, img}
	if write {
		args = append([]string{"-w"}, args...)
	}
	cmd := exec.Command(debugfs, args...)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME="+FakeTime, "TZ=UTC", "LC_ALL=C")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("debugfs %v: %v\n%s", requests, err, stderr.String())
	}
	// debugfs reports failed requests on stderr but exits 0.
	for _, line := range strings.Split(stderr.String(), "\n") {
		if line != "" && !strings.HasPrefix(line, "debugfs ") {
			t.Fatalf("debugfs %v: %s", requests, stderr.String())
		}
	}
	return string(out)
}

// WriteFile writes a file, creating parent directories, and fails the test
// on error.
func WriteFile(t testing.TB, p string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Reindex runs `e2fsck -fyD` on img, which rebuilds every directory, turning
// large ones into htree directories. Exit status 1 (filesystem changed) is
// success.
func Reindex(t testing.TB, img string) {
	t.Helper()
	e2fsck := testutil.Tool(t, "e2fsck", "e2fsprogs")
	cmd := exec.Command(e2fsck, "-fyD", img)
	cmd.Env = append(os.Environ(), "E2FSPROGS_FAKE_TIME="+FakeTime, "TZ=UTC", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); err != nil && !(ok && ee.ExitCode() == 1) {
		t.Fatalf("e2fsck -fyD %s: %v\n%s", img, err, out)
	}
}

// Check runs `e2fsck -fn` on img and fails the test unless it is clean.
func Check(t testing.TB, img string) {
	t.Helper()
	Run(t, testutil.Tool(t, "e2fsck", "e2fsprogs"), "-fn", img)
}
