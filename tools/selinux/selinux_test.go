package selinux

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/icos-build/icos/tools/internal/testutil"
)

// fileContexts is a realistic excerpt in the style of refpolicy's
// file_contexts: generic patterns first, exact paths, type qualifiers,
// stems, alternations, escapes and <<none>>.
const fileContexts = `# comment line
/.*				system_u:object_r:default_t:s0
/				-d	system_u:object_r:root_t:s0
/bin				-l	system_u:object_r:bin_t:s0
/boot(/.*)?			system_u:object_r:boot_t:s0
/boot/vmlinuz.*			--	system_u:object_r:boot_t:s0
/boot/grub(/.*)?		system_u:object_r:boot_t:s0
/dev(/.*)?			system_u:object_r:device_t:s0
/dev/null			-c	system_u:object_r:null_device_t:s0
/dev/[shmv]d[^/]*		-b	system_u:object_r:fixed_disk_device_t:s0
/dev/tty[0-9]+			-c	system_u:object_r:tty_device_t:s0
/dev/initctl			-p	system_u:object_r:initctl_t:s0
/etc(/.*)?			system_u:object_r:etc_t:s0
/etc/shadow.*			--	system_u:object_r:shadow_t:s0
/etc/passwd\.lock		--	system_u:object_r:passwd_file_t:s0
/etc/ssl/certs(/.*)?		system_u:object_r:cert_t:s0
/home			-d	system_u:object_r:home_root_t:s0
/home/[^/]+		-d	unconfined_u:object_r:user_home_dir_t:s0
/home/[^/]+/.+			unconfined_u:object_r:user_home_t:s0
/lost\+found			-d	system_u:object_r:lost_found_t:s0
/lost\+found/.*			<<none>>
/opt/ic(/.*)?			system_u:object_r:ic_t:s0
/opt/ic/bin/[^/]+		--	system_u:object_r:ic_exec_t:s0
/opt/ic/bin/replica		--	system_u:object_r:ic_replica_exec_t:s0
/proc(/.*)?			<<none>>
/run(/.*)?			system_u:object_r:var_run_t:s0
/run/systemd/journal/socket	-s	system_u:object_r:syslogd_var_run_t:s0
/sys(/.*)?			<<none>>
/tmp(/.*)?			<<none>>
/tmp			-d	system_u:object_r:tmp_t:s0
/usr(/.*)?			system_u:object_r:usr_t:s0
/usr/(s)?bin(/.*)?		system_u:object_r:bin_t:s0
/usr/bin/passwd			--	system_u:object_r:passwd_exec_t:s0
/usr/lib(64)?/systemd/systemd	--	system_u:object_r:init_exec_t:s0
/usr/lib/systemd/system(/.*)?	system_u:object_r:systemd_unit_file_t:s0
/usr/share/man(/.*)?		system_u:object_r:man_t:s0
/usr/share/doc/.+\.(gz|txt)	--	system_u:object_r:usr_t:s0
/var(/.*)?			system_u:object_r:var_t:s0
/var/lib/ic(/.*)?		system_u:object_r:ic_var_lib_t:s0
/var/lib/ic/data		-d	system_u:object_r:ic_data_t:s0
/var/log(/.*)?			system_u:object_r:var_log_t:s0
/var/log/wtmp.*			--	system_u:object_r:wtmp_t:s0
/var/run			-l	system_u:object_r:var_run_t:s0
/x|/y/z				system_u:object_r:alt_t:s0
/srv/a|b			system_u:object_r:stem_alt_t:s0
`

var paths = []string{
	"/", "/bin", "/boot", "/boot/vmlinuz-6.1", "/boot/grub/grub.cfg", "/boot/initrd.img",
	"/dev", "/dev/null", "/dev/sda", "/dev/sda1", "/dev/vdb", "/dev/tty1", "/dev/ttyS0", "/dev/initctl",
	"/etc", "/etc/shadow", "/etc/shadow-", "/etc/passwd.lock", "/etc/passwdXlock", "/etc/ssl/certs/ca.pem",
	"/home", "/home/alice", "/home/alice/.bashrc", "/lost+found", "/lost+found/#12",
	"/opt", "/opt/ic", "/opt/ic/bin/replica", "/opt/ic/bin/orchestrator", "/opt/ic/bin/sub/x",
	"/proc", "/proc/1/status", "/run", "/run/systemd/journal/socket", "/sys/kernel", "/tmp", "/tmp/x",
	"/usr", "/usr/bin", "/usr/bin/passwd", "/usr/sbin/sshd", "/usr/lib/systemd/systemd", "/usr/lib64/systemd/systemd",
	"/usr/lib/systemd/system/ssh.service", "/usr/share/man/man1/ls.1.gz", "/usr/share/doc/a/changelog.gz",
	"/var", "/var/lib/ic", "/var/lib/ic/data", "/var/lib/ic/data/x", "/var/log/wtmp", "/var/log/syslog",
	"/var/run", "/x", "/y/z", "/xx", "/y", "/a//b", "/with space/and tab", "/ünïcode",
	"/srv/a", "/srv/xb", "/zzb", "/srv/b/c", "/srv",
}

var types = map[string]uint32{
	"file": ModeRegular, "dir": ModeDir, "lnk_file": ModeSymlink, "chr_file": ModeChar,
	"blk_file": ModeBlock, "pipe": ModeFifo, "sock_file": ModeSocket,
}

func parse(t *testing.T) (*Contexts, string) {
	t.Helper()
	fc := filepath.Join(t.TempDir(), "file_contexts")
	if err := os.WriteFile(fc, []byte(fileContexts), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Parse(strings.NewReader(fileContexts), "file_contexts")
	if err != nil {
		t.Fatal(err)
	}
	return c, fc
}

// TestMatchesMatchpathcon compares every path and file type with
// matchpathcon -m TYPE from libselinux.
func TestMatchesMatchpathcon(t *testing.T) {
	c, fc := parse(t)
	mpc := testutil.Tool(t, "matchpathcon", "selinux-utils")
	for name, mode := range types {
		out, _ := exec.Command(mpc, append([]string{"-N", "-f", fc, "-m", name}, paths...)...).Output()
		want := map[string]string{}
		for _, line := range strings.Split(string(out), "\n") {
			if p, ctx, ok := strings.Cut(line, "\t"); ok {
				want[p] = ctx
			}
		}
		for _, p := range paths {
			got, found := c.match(p, mode)
			w, wfound := want[p]
			if found != wfound || got != w {
				t.Errorf("%s -m %s: got %q (found %v), matchpathcon says %q (found %v)", p, name, got, found, w, wfound)
			}
		}
	}
}

// TestMatchesSelabelLookup compares untyped lookups with selabel_lookup.
func TestMatchesSelabelLookup(t *testing.T) {
	c, fc := parse(t)
	sl := testutil.Tool(t, "selabel_lookup", "selinux-utils")
	for _, p := range paths {
		out, err := exec.Command(sl, "-b", "file", "-f", fc, "-k", p).Output()
		want, wok := "", err == nil
		if wok {
			want = strings.TrimSpace(strings.TrimPrefix(string(out), "Default context: "))
		}
		got, ok := c.Lookup(p, 0)
		if ok != wok || got != want {
			t.Errorf("%s: got %q (%v), selabel_lookup says %q (%v)", p, got, ok, want, wok)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tt := range []struct{ name, in, want string }{
		{"bad type", "/a -x ctx\n", "fc:1: invalid file type"},
		{"fields", "/a\n", "fc:1:"},
		{"regex", "# c\n/a(b ctx\n", "fc:2: regex"},
		{"conflict", "/a ctx1\n/b ctx\n/a -d ctx2\n", "lines 1 and 3"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(strings.NewReader(tt.in), "fc")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse: error %v, want it to contain %q", err, tt.want)
			}
		})
	}
	// Same regex and context twice is accepted, as libselinux does.
	if _, err := Parse(strings.NewReader("/a ctx\n/a ctx\n"), "fc"); err != nil {
		t.Errorf("duplicate identical spec: %v", err)
	}
}
