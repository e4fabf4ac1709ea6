package vm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeGuest is the far end of a Console on pipes: the test reads what the
// console typed and writes what the guest prints.
type fakeGuest struct {
	c     *Console
	out   *io.PipeWriter // guest output, read by the console
	typed chan string    // each Send, as written
	log   *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newFakeGuest(t *testing.T) *fakeGuest {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	g := &fakeGuest{out: outW, typed: make(chan string, 16), log: &syncBuffer{}}
	g.c = NewConsole(outR, inW, g.log)
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := inR.Read(buf)
			if n > 0 {
				g.typed <- string(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { outW.Close(); inR.Close() })
	return g
}

// print writes guest output (from another goroutine: the console may be
// typing at the same time).
func (g *fakeGuest) print(s string) { go g.out.Write([]byte(s)) }

// next returns the next text the console typed.
func (g *fakeGuest) next(t *testing.T) string {
	t.Helper()
	select {
	case s := <-g.typed:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("the console typed nothing")
		return ""
	}
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func TestExpect(t *testing.T) {
	g := newFakeGuest(t)
	ctx := ctxFor(t, 5*time.Second)
	g.print("BdsDxe: loading Boot0001 \"UEFI Misc Device\"\r\nBdsDxe: starting Boot0001\r\n")
	m, err := g.c.Expect(ctx, regexp.MustCompile(`BdsDxe: (\w+) (Boot\d+)`))
	if err != nil || strings.Join(m, "|") != "BdsDxe: loading Boot0001|loading|Boot0001" {
		t.Fatalf("Expect = %q, %v", m, err)
	}
	// The first line is consumed: the same pattern finds the second.
	m, err = g.c.Expect(ctx, regexp.MustCompile(`BdsDxe: (\w+) (Boot\d+)`))
	if err != nil || m[1] != "starting" {
		t.Fatalf("second Expect = %q, %v", m, err)
	}
	// Output split over many writes still matches.
	for _, b := range []byte("GRUB loading.\r\n") {
		g.out.Write([]byte{b})
	}
	if _, err := g.c.Expect(ctx, regexp.MustCompile(`GRUB loading\.`)); err != nil {
		t.Fatal(err)
	}
	// An optional group that did not take part is "".
	g.print("x=1\n")
	m, err = g.c.Expect(ctx, regexp.MustCompile(`(y)?x=(\d)`))
	if err != nil || len(m) != 3 || m[1] != "" || m[2] != "1" {
		t.Fatalf("Expect = %q, %v", m, err)
	}
	if want := "BdsDxe: loading Boot0001 \"UEFI Misc Device\"\r\nBdsDxe: starting Boot0001\r\nGRUB loading.\r\nx=1\n"; g.log.String() != want {
		t.Errorf("log %q, want %q", g.log.String(), want)
	}
}

func TestExpectTimeoutQuotesTail(t *testing.T) {
	g := newFakeGuest(t)
	old := strings.Repeat("old output ", 300) // more than the quoted tail
	g.print(old)
	if _, err := g.c.Expect(ctxFor(t, 5*time.Second), regexp.MustCompile(`old output $`)); err != nil {
		t.Fatal(err)
	}
	recent := "\x1b[2J\x1b[01;01HBdsDxe: failed to load Boot0001\r\nShell> \xff"
	g.print(recent)
	if _, err := g.c.Expect(ctxFor(t, 5*time.Second), regexp.MustCompile(`Shell> `)); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := g.c.Expect(ctxFor(t, 300*time.Millisecond), regexp.MustCompile(`login: `))
	if err == nil {
		t.Fatal("no error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("timed out after %v", d)
	}
	msg := err.Error()
	wantStart := `vm: console: waiting for "login: ": context deadline exceeded; the console output ends with:` + "\n  | "
	wantEnd := `\x1b[2J\x1b[01;01HBdsDxe: failed to load Boot0001` + "\n  | Shell> \\xff"
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Error("the error does not wrap context.DeadlineExceeded")
	}
	if !strings.HasPrefix(msg, wantStart) || !strings.HasSuffix(msg, wantEnd) {
		t.Errorf("error:\n%s\nwant it to start with %q and end with %q", msg, wantStart, wantEnd)
	}
	// About the last 2 KiB: not the whole output.
	if n := strings.Count(msg, "old output"); n < 100 || n > 2048/len("old output ") {
		t.Errorf("the error quotes %d of the 300 old lines: want the last 2 KiB", n)
	}
}

func TestExpectEndOfOutput(t *testing.T) {
	inR, inW := io.Pipe()
	defer inR.Close()
	outR, outW := io.Pipe()
	closed := make(chan struct{})
	c := newConsole(outR, inW, nil, func() { close(closed) }, func() string { return "QEMU exited with status 1" })
	go func() {
		outW.Write([]byte("qemu: could not load firmware\r\n"))
		outW.Close()
	}()
	_, err := c.Expect(ctxFor(t, 5*time.Second), regexp.MustCompile(`BdsDxe`))
	want := `vm: console: waiting for "BdsDxe": the console output ended (QEMU exited with status 1); the console output ends with:` + "\n  | qemu: could not load firmware\n  | "
	if err == nil || err.Error() != want {
		t.Errorf("error %v\nwant %s", err, want)
	}
	select {
	case <-closed:
	case <-time.After(time.Second):
		t.Error("the close function did not run at the end of the output")
	}
	// No output at all.
	outR2, outW2 := io.Pipe()
	outW2.Close()
	_, err = NewConsole(outR2, io.Discard, nil).Expect(ctxFor(t, 5*time.Second), regexp.MustCompile(`x`))
	if want := `vm: console: waiting for "x": the console output ended; no console output at all`; err == nil || err.Error() != want || !errors.Is(err, ErrEnded) {
		t.Errorf("error %v, want %q wrapping ErrEnded", err, want)
	}
}

func TestConsoleLogError(t *testing.T) {
	outR, outW := io.Pipe()
	c := NewConsole(outR, io.Discard, failingWriter{})
	go outW.Write([]byte("boot\n"))
	_, err := c.Expect(ctxFor(t, 5*time.Second), regexp.MustCompile(`never`))
	if err == nil || err.Error() != "vm: console log: disk full" {
		t.Errorf("error %v, want the log's", err)
	}
	outW.Close()
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// tokenOf returns the marker token of a line typed by Run.
func tokenOf(t *testing.T, typed string) string {
	t.Helper()
	m := regexp.MustCompile(`^printf 'icosvm-%s-%s\\n' begin (\S+); \{ `).FindStringSubmatch(typed)
	if m == nil {
		t.Fatalf("typed %q: no begin marker", typed)
	}
	return m[1]
}

func TestRunParsing(t *testing.T) {
	for _, tc := range []struct {
		name   string
		guest  func(typed, tok string) string // what the guest prints
		bytes  bool                           // one byte per write
		out    string
		status int
	}{
		{
			name: "plain",
			guest: func(_, tok string) string {
				return "icosvm-begin-" + tok + "\r\nhello\r\n\r\nicosvm-end-" + tok + "-0\r\n# "
			},
			out: "hello\n",
		},
		{
			name: "echo of the typed command before the output",
			guest: func(typed, tok string) string {
				return strings.ReplaceAll(typed, "\n", "\r\n> ") + "icosvm-begin-" + tok + "\r\nhello\r\n\r\nicosvm-end-" + tok + "-0\r\n# "
			},
			out: "hello\n",
		},
		{
			name:   "no newline at the end, exit status",
			guest:  func(_, tok string) string { return "icosvm-begin-" + tok + "\r\nabc\r\nicosvm-end-" + tok + "-3\r\n" },
			out:    "abc",
			status: 3,
		},
		{
			name:   "no output",
			guest:  func(_, tok string) string { return "icosvm-begin-" + tok + "\r\n\r\nicosvm-end-" + tok + "-127\r\n" },
			out:    "",
			status: 127,
		},
		{
			name: "kernel messages before and after the markers are not output",
			guest: func(_, tok string) string {
				return "[   12.345678] EXT4-fs (vda4): mounted\r\nicosvm-begin-" + tok + "\r\nok\r\n\r\nicosvm-end-" + tok +
					"-0\r\n[   12.5] systemd[1]: Started\r\n"
			},
			out: "ok\n",
		},
		{
			name: "a kernel message inside the output is output; the markers are still found",
			guest: func(_, tok string) string {
				return "icosvm-begin-" + tok + "\r\nline 1\r\n[   13.1] usb 1-1: new device\r\nline 2\r\n\r\nicosvm-end-" + tok + "-0\r\n"
			},
			out: "line 1\n[   13.1] usb 1-1: new device\nline 2\n",
		},
		{
			name: "markers of other tokens (an earlier command) are output",
			guest: func(_, tok string) string {
				return "icosvm-end-" + tok + "0-1\r\nicosvm-begin-" + tok + "\r\nicosvm-end-x" + tok + "-1\r\n\r\nicosvm-end-" + tok + "-0\r\n"
			},
			out: "icosvm-end-xp-1-1\n", // the token is p-1
		},
		{
			name: "one byte at a time",
			guest: func(_, tok string) string {
				return "icosvm-begin-" + tok + "\r\na\r\nb\r\n\r\nicosvm-end-" + tok + "-0\r\n"
			},
			bytes: true,
			out:   "a\nb\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGuest(t)
			g.c.prefix = "p"
			go func() {
				typed := <-g.typed
				s := tc.guest(typed, regexp.MustCompile(`begin (\S+);`).FindStringSubmatch(typed)[1])
				if tc.bytes {
					for i := range len(s) {
						g.out.Write([]byte{s[i]})
					}
				} else {
					g.out.Write([]byte(s))
				}
			}()
			out, status, err := g.c.Run(ctxFor(t, 5*time.Second), "echo hello")
			if err != nil {
				t.Fatal(err)
			}
			if out != tc.out || status != tc.status {
				t.Errorf("Run = %q, %d; want %q, %d", out, status, tc.out, tc.status)
			}
		})
	}
}

func TestRunTypedLine(t *testing.T) {
	g := newFakeGuest(t)
	g.c.prefix = "ab12"
	done := make(chan error, 1)
	go func() {
		_, _, err := g.c.Run(ctxFor(t, 300*time.Millisecond), "for i in 1 2; do\necho $i\ndone")
		done <- err
	}()
	typed := g.next(t)
	want := "printf 'icosvm-%s-%s\\n' begin ab12-1; { for i in 1 2; do\necho $i\ndone\n} </dev/null; printf '\\nicosvm-%s-%s-%d\\n' end ab12-1 \"$?\"\n"
	if typed != want {
		t.Errorf("typed %q\nwant  %q", typed, want)
	}
	// The echo of the typed line does not count as a marker.
	g.print(strings.ReplaceAll(typed, "\n", "\r\n"))
	err := <-done
	if err == nil || !strings.Contains(err.Error(), `waiting for "icosvm-begin-ab12-1\\r?\\n": context deadline exceeded; the console output ends with:`) {
		t.Errorf("error %v, want a timeout waiting for the begin marker", err)
	}
	if tok := tokenOf(t, typed); tok != "ab12-1" {
		t.Errorf("token %q", tok)
	}
	// The next Run has a new token.
	go g.c.Run(ctxFor(t, 100*time.Millisecond), "true")
	if tok := tokenOf(t, g.next(t)); tok != "ab12-2" {
		t.Errorf("second token %q, want ab12-2", tok)
	}
}

func TestRunLineTooLong(t *testing.T) {
	g := newFakeGuest(t)
	_, _, err := g.c.Run(ctxFor(t, time.Second), "echo "+strings.Repeat("x", 4000))
	if err == nil || !strings.Contains(err.Error(), "the guest's terminal takes at most 4000") {
		t.Errorf("error %v", err)
	}
}

// TestRunRealShell runs commands through a real sh on pipes, with the
// output passed through a fake terminal that echoes what is typed, turns
// "\n" into "\r\n" and prints a kernel message after each input.
func TestRunRealShell(t *testing.T) {
	sh := exec.Command("sh")
	shIn, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	shOutR, shOutW := io.Pipe()
	sh.Stdout, sh.Stderr = shOutW, shOutW
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { shIn.Close(); sh.Wait() }()
	consoleR, term := io.Pipe()
	var termMu sync.Mutex
	emit := func(s string) {
		termMu.Lock()
		defer termMu.Unlock()
		term.Write([]byte(strings.ReplaceAll(s, "\n", "\r\n")))
	}
	go func() { // the shell's output, line by line
		r := bufio.NewReader(shOutR)
		for {
			line, err := r.ReadString('\n')
			if line != "" {
				emit(line)
			}
			if err != nil {
				return
			}
		}
	}()
	typedR, typedW := io.Pipe()
	go func() { // the terminal echoes, and passes the input on
		buf := make([]byte, 4096)
		for {
			n, err := typedR.Read(buf)
			if n > 0 {
				emit(string(buf[:n]))
				emit("[    7.000001] kernel: between lines\n")
				shIn.Write(buf[:n])
			}
			if err != nil {
				return
			}
		}
	}()
	c := NewConsole(consoleR, typedW, nil)
	ctx := ctxFor(t, 20*time.Second)
	for _, tc := range []struct {
		cmd    string
		out    string
		status int
	}{
		{"echo hello", "hello\n", 0},
		{"printf 'no newline'", "no newline", 0},
		{"false", "", 1},
		{"(exit 42)", "", 42},
		{"echo to stderr >&2; echo out", "to stderr\nout\n", 0},
		{"for i in 1 2 3; do\n  echo \"line $i\"\ndone", "line 1\nline 2\nline 3\n", 0},
		{"cat", "", 0}, // standard input is /dev/null: cat does not wait for the console
		{"cat <<'EOF'\n$HOME is not expanded\nEOF", "$HOME is not expanded\n", 0},
		{"echo 'icosvm-end-x-0'; echo \"it's\"", "icosvm-end-x-0\nit's\n", 0},
		{"echo a # a comment", "a\n", 0},
		{"sleep 0.1 &", "", 0},
	} {
		out, status, err := c.Run(ctx, tc.cmd)
		if err != nil {
			t.Fatalf("%q: %v", tc.cmd, err)
		}
		if out != tc.out || status != tc.status {
			t.Errorf("Run(%q) = %q, %d; want %q, %d", tc.cmd, out, status, tc.out, tc.status)
		}
	}
}

func TestLogin(t *testing.T) {
	defer func(d, p time.Duration) { readyRetry, cancelPause = d, p }(readyRetry, cancelPause)
	readyRetry, cancelPause = 200*time.Millisecond, 10*time.Millisecond
	for _, tc := range []struct {
		name      string
		password  string
		dropFirst bool   // login drops the first line typed ahead
		relogin   bool   // the session ends at a new login prompt before the shell answers
		answer    string // "" (the ready marker) or a login failure
		err       string
	}{
		{name: "password", password: "root"},
		{name: "no password"},
		{name: "typed-ahead line lost", password: "root", dropFirst: true},
		{name: "session ended before the shell", password: "root", relogin: true},
		{name: "motd's last login is no prompt", password: "root", answer: "\r\nLast login: Sun Nov 29 on ttyS0\r\nroot@guestos:~# icosvm-ready-TOKEN\r\n"},
		{name: "wrong password", password: "x", answer: "\r\nLogin incorrect\r\nguestos login: ", err: "vm: console: login as root: Login incorrect"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGuest(t)
			errc := make(chan error, 1)
			go func() { errc <- g.c.Login(ctxFor(t, 10*time.Second), "root", tc.password) }()
			g.print("[  OK  ] Started getty@tty1.service\r\n\r\nDebian GNU/Linux 12 guestos ttyS0\r\n\r\nguestos login: ")
			if got := g.next(t); got != "root\n" {
				t.Fatalf("typed %q, want the user", got)
			}
			if tc.password != "" {
				g.print("Password: ")
				if got := g.next(t); got != tc.password+"\n" {
					t.Fatalf("typed %q, want the password", got)
				}
			}
			setup := g.next(t)
			if tc.relogin {
				// The Ctrl-C of a retry ended login's session: getty asks again.
				g.print("\r\nDebian GNU/Linux 12 guestos ttyS0\r\n\r\nguestos login: ")
				if got := g.next(t); got != "root\n" {
					t.Fatalf("typed %q after a new login prompt, want the user again", got)
				}
				g.print("Password: ")
				if got := g.next(t); got != tc.password+"\n" {
					t.Fatalf("typed %q, want the password again", got)
				}
				setup = g.next(t)
			}
			if tc.dropFirst {
				// After readyRetry: Ctrl-C alone, then the line again.
				if got := g.next(t); got != "\x03" {
					t.Fatalf("typed %q, want Ctrl-C before the setup line again", got)
				}
				setup = g.next(t)
			}
			m := regexp.MustCompile(`^stty -echo; dmesg -n 1 2>/dev/null; printf 'icosvm-%s-%s\\n' ready (\S+)\n$`).FindStringSubmatch(setup)
			if m == nil {
				t.Fatalf("typed %q, want the setup line", setup)
			}
			answer := strings.ReplaceAll(tc.answer, "TOKEN", m[1])
			if answer == "" {
				answer = "\r\nLinux guestos 6.1.0\r\nroot@guestos:~# icosvm-ready-" + m[1] + "\r\nroot@guestos:~# "
			}
			g.print(answer)
			if err := <-errc; errString(err) != tc.err {
				t.Errorf("Login: %v, want %q", err, tc.err)
			}
		})
	}
}

func TestQuoteTail(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a\r\nb", "  | a\n  | b"},
		{"\x1b[0m\tx\x7f", `  | \x1b[0m` + "\tx" + `\x7f`},
		{"\xffé\uFFFD", `  | \xffé` + "\uFFFD"},
		{"lone\rcr", `  | lone\x0dcr`},
	} {
		if got := quoteTail([]byte(tc.in)); got != tc.want {
			t.Errorf("quoteTail(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestRunOnTerminal runs commands in sh on a real pseudo-terminal (made by
// script(1)), whose line discipline echoes what is typed and turns "\n"
// into "\r\n" as a serial getty's does; then again with echo off, as Login
// leaves it.
func TestRunOnTerminal(t *testing.T) {
	scriptCmd, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script (Debian package bsdutils) not installed: no pseudo-terminal to test on")
	}
	cmd := exec.Command(scriptCmd, "-qfc", "sh", "/dev/null")
	cmd.Env = append(cmd.Environ(), "PS1=$ ", "PS2=> ")
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	c := NewConsole(out, in, nil)
	ctx := ctxFor(t, 20*time.Second)
	run := func(command, want string, wantStatus int) {
		t.Helper()
		got, status, err := c.Run(ctx, command)
		if err != nil {
			t.Fatalf("%q: %v", command, err)
		}
		if got != want || status != wantStatus {
			t.Errorf("Run(%q) = %q, %d; want %q, %d", command, got, status, want, wantStatus)
		}
	}
	run("echo hello", "hello\n", 0)
	run("printf 'a\\nb'", "a\nb", 0)
	run("for i in 1 2; do\n  echo $i\ndone; false", "1\n2\n", 1)
	run("stty -echo", "stty: 'standard input': Inappropriate ioctl for device\n", 1) // standard input is /dev/null
	if !strings.Contains(c.Tail(), "{ echo hello\r\n}") && !strings.Contains(c.Tail(), "} </dev/null") {
		t.Errorf("no echo of the typed lines in %q: is this a terminal?", c.Tail())
	}
	// As Login does: wait for the output of a command after stty, so that
	// nothing is typed while the terminal still echoes.
	if err := c.Send("stty -echo; printf '%s-done\\n' stty\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Expect(ctx, regexp.MustCompile(`stty-done\r\n`)); err != nil {
		t.Fatal(err)
	}
	run("echo quiet", "quiet\n", 0)
	if strings.Contains(c.Tail(), "echo quiet") {
		t.Errorf("the typed line was echoed after stty -echo: %q", c.Tail())
	}
}
