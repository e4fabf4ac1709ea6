package vm

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tailSize is how much of the end of the console output (and of QEMU's
// standard error) errors quote.
const tailSize = 2048

// scanInterval is the least time between two regexp scans of the unread
// output by one Expect: a serial console delivers output a few bytes at a
// time, and scanning the whole unread output after each of them would cost
// time quadratic in its length.
const scanInterval = 20 * time.Millisecond

// maxLine is the longest line Run sends: the guest's terminal keeps at most
// 4095 bytes of a line being typed.
const maxLine = 4000

// Console is a serial console read by Go code: the guest's output is read
// as it comes (and copied to a log, if any) into a buffer that Expect
// consumes; Send types into the guest.
type Console struct {
	w   io.Writer
	wmu sync.Mutex

	mu      sync.Mutex
	unread  []byte        // output not yet consumed by Expect
	more    chan struct{} // closed (and replaced) when output comes or ends
	end     error         // io.EOF or the read error, once the output ended
	logErr  error         // the first error writing the log
	note    func() string // how the output ended (QEMU's exit), or nil
	tail    tailBuffer    // the last tailSize bytes of output
	counter int           // for Run's and Login's markers
	prefix  string        // random part of the markers
}

// NewConsole reads the guest's output from r (until it ends) and sends
// input to w; every byte read is also written to log if not nil. A VM
// started without Config.Terminal has one (VM.Console); tests of code that
// uses a Console may make their own on pipes.
func NewConsole(r io.Reader, w io.Writer, log io.Writer) *Console {
	return newConsole(r, w, log, nil, nil)
}

// newConsole is NewConsole with a function run when the output ends
// (closing files) and one describing why it ended.
func newConsole(r io.Reader, w io.Writer, log io.Writer, closed func(), note func() string) *Console {
	var rnd [4]byte
	rand.Read(rnd[:])
	c := &Console{w: w, more: make(chan struct{}), note: note, prefix: hex.EncodeToString(rnd[:])}
	c.tail.max = tailSize
	go c.read(r, log, closed)
	return c
}

func (c *Console) read(r io.Reader, log io.Writer, closed func()) {
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			var logErr error
			if log != nil {
				if _, logErr = log.Write(buf[:n]); logErr != nil {
					log = nil
				}
			}
			c.tail.Write(buf[:n])
			c.mu.Lock()
			c.unread = append(c.unread, buf[:n]...)
			if logErr != nil && c.logErr == nil {
				c.logErr = fmt.Errorf("vm: console log: %w", logErr)
			}
			c.wake()
			c.mu.Unlock()
		}
		if err != nil {
			if closed != nil {
				closed()
			}
			c.mu.Lock()
			c.end = err
			c.wake()
			c.mu.Unlock()
			return
		}
	}
}

// wake tells waiting Expects that something changed; c.mu is held.
func (c *Console) wake() {
	close(c.more)
	c.more = make(chan struct{})
}

// Tail returns the last 2 KiB of console output, as it came.
func (c *Console) Tail() string { return string(c.tail.bytes()) }

// Send types s into the guest.
func (c *Console) Send(s string) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if _, err := io.WriteString(c.w, s); err != nil {
		return fmt.Errorf("vm: console: sending: %w", err)
	}
	return nil
}

// Expect waits until re matches the console output not yet consumed and
// consumes it up to the end of the match. It returns the match and its
// submatches (as regexp.FindStringSubmatch does). When ctx ends first, or
// the output ends (QEMU exited), the error quotes the end of the output.
// Output that came before an earlier match is never matched again.
func (c *Console) Expect(ctx context.Context, re *regexp.Regexp) ([]string, error) {
	_, m, err := c.expect(ctx, re)
	return m, err
}

// expect is Expect that also returns the output skipped before the match.
func (c *Console) expect(ctx context.Context, re *regexp.Regexp) (skipped string, m []string, err error) {
	var last time.Time
	for {
		if wait := scanInterval - time.Since(last); wait > 0 && !last.IsZero() {
			select {
			case <-ctx.Done():
				return "", nil, c.waitError(re, ctx.Err(), "")
			case <-time.After(wait):
			}
		}
		last = time.Now()
		c.mu.Lock()
		if c.logErr != nil {
			c.mu.Unlock()
			return "", nil, c.logErr
		}
		if loc := re.FindSubmatchIndex(c.unread); loc != nil {
			skipped = string(c.unread[:loc[0]])
			m = make([]string, len(loc)/2)
			for i := range m {
				if loc[2*i] >= 0 {
					m[i] = string(c.unread[loc[2*i]:loc[2*i+1]])
				}
			}
			c.unread = c.unread[loc[1]:]
			c.mu.Unlock()
			return skipped, m, nil
		}
		end, more, note := c.end, c.more, c.note
		c.mu.Unlock()
		if end != nil {
			var why string
			if end != io.EOF {
				why = ": " + end.Error()
			}
			if note != nil {
				why += " (" + note() + ")"
			}
			return "", nil, c.waitError(re, ErrEnded, why)
		}
		select {
		case <-ctx.Done():
			return "", nil, c.waitError(re, ctx.Err(), "")
		case <-more:
		}
	}
}

// ErrEnded is wrapped by the errors of an Expect (or Login, Run) that
// gave up because the console output ended: QEMU exited.
var ErrEnded = errors.New("the console output ended")

// waitError is the error of an Expect for re that gave up because of
// cause (and detail).
func (c *Console) waitError(re *regexp.Regexp, cause error, detail string) error {
	t := c.tail.bytes()
	if len(t) == 0 {
		return fmt.Errorf("vm: console: waiting for %q: %w%s; no console output at all", re, cause, detail)
	}
	return fmt.Errorf("vm: console: waiting for %q: %w%s; the console output ends with:\n%s", re, cause, detail, quoteTail(t))
}

// quoteTail formats the end of some output for an error message: each
// line indented by "  | ", carriage returns before newlines dropped, other
// control bytes and invalid UTF-8 escaped (\x1b).
func quoteTail(b []byte) string {
	s := strings.ReplaceAll(string(b), "\r\n", "\n")
	var out strings.Builder
	out.WriteString("  | ")
	for i, r := range s {
		switch {
		case r == '\n':
			out.WriteString("\n  | ")
		case r == '\t':
			out.WriteByte('\t')
		case r == 0xFFFD && strings.HasPrefix(s[i:], "\xef\xbf\xbd"):
			out.WriteRune(r)
		case r == 0xFFFD, r < 0x20, r == 0x7f:
			fmt.Fprintf(&out, `\x%02x`, s[i])
		default:
			out.WriteRune(r)
		}
	}
	return out.String()
}

// token returns a new marker token, unique in the process's consoles.
func (c *Console) token() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counter++
	return c.prefix + "-" + strconv.Itoa(c.counter)
}

// loginPrompt is what getty prints to ask for a user name.
var loginPrompt = regexp.MustCompile(`login: `)

// passwordPrompt is what login prints to ask for the password.
var passwordPrompt = regexp.MustCompile(`[Pp]assword: ?`)

// readyRetry is how long Login waits for the shell's answer before typing
// its setup line again (login may drop what was typed ahead). It is longer
// than pam_systemd's wait for a failing systemd-logind (25 s), during which
// the session has no shell yet and a Ctrl-C would end it. A variable for
// the tests.
var readyRetry = 30 * time.Second

// cancelPause is how long Login waits after the Ctrl-C of a retry before
// typing its setup line again; a variable for the tests.
var cancelPause = time.Second

// loginAttempts is how many times Login types the user name and password
// when the session ends at a new login prompt before the shell answers.
const loginAttempts = 3

// freshPrompt is getty's prompt at the start of a line with nothing after
// it: the session ended (seen when a Ctrl-C hit login before the shell).
// "Last login: ..." of the motd is told apart in Login.
var freshPrompt = regexp.MustCompile(`\n([\w.-]+) login: $`)

// Login logs in at a getty prompt: it waits for "login: ", types user
// and, if password is not empty, waits for the password prompt and types
// password. Then it sets the shell up for Run and checks it answers:
// "stty -echo" (typed commands are not echoed) and "dmesg -n 1" (kernel
// messages no longer go to the console, so they cannot land in the output
// of a command; for root only, and they stay in dmesg). A "Login
// incorrect" is an error. When getty prompts again before the shell
// answers, it logs in again (up to loginAttempts times).
func (c *Console) Login(ctx context.Context, user, password string) error {
	if _, err := c.Expect(ctx, loginPrompt); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		err := c.login(ctx, user, password)
		if !errors.Is(err, errBackAtLogin) || attempt == loginAttempts {
			return err
		}
	}
}

// errBackAtLogin: getty prompted for a user name again.
var errBackAtLogin = errors.New("vm: console: back at the login prompt before the shell answered")

// login types user and password at a login prompt just read, then waits
// for the shell as Login says.
func (c *Console) login(ctx context.Context, user, password string) error {
	if err := c.Send(user + "\n"); err != nil {
		return err
	}
	if password != "" {
		if _, err := c.Expect(ctx, passwordPrompt); err != nil {
			return err
		}
		if err := c.Send(password + "\n"); err != nil {
			return err
		}
	}
	tok := c.token()
	ready := regexp.MustCompile(`icosvm-ready-` + regexp.QuoteMeta(tok) + `|Login incorrect|` + freshPrompt.String())
	setup := "stty -echo; dmesg -n 1 2>/dev/null; printf 'icosvm-%s-%s\\n' ready " + tok + "\n"
	for retry := false; ; retry = true {
		if retry {
			// login may have taken part of the line typed ahead, leaving
			// the shell with the rest of it inside an open quote (seen
			// under load): Ctrl-C discards that line. It is sent alone,
			// since the terminal flushes its input on it.
			if err := c.Send("\x03"); err != nil {
				return err
			}
			select {
			case <-time.After(cancelPause):
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		if err := c.Send(setup); err != nil {
			return err
		}
		try, cancel := context.WithTimeout(ctx, readyRetry)
		m, err := c.expectReady(try, ready)
		cancel()
		switch {
		case err == nil && m[0] == "Login incorrect":
			return fmt.Errorf("vm: console: login as %s: Login incorrect", user)
		case err == nil && strings.HasSuffix(m[0], " login: "):
			return errBackAtLogin
		case err == nil:
			return nil
		case ctx.Err() != nil || !errors.Is(err, context.DeadlineExceeded):
			return err
		}
	}
}

// expectReady is Expect of Login's answers, skipping the motd's "Last
// login: ..." should it arrive cut right after "login: ".
func (c *Console) expectReady(ctx context.Context, ready *regexp.Regexp) ([]string, error) {
	for {
		m, err := c.Expect(ctx, ready)
		if err != nil || !strings.HasSuffix(m[0], " login: ") || !strings.HasSuffix(m[0], "\nLast login: ") {
			return m, err
		}
	}
}

// Run runs the shell command cmd in the guest's shell (logged in, at a
// prompt) and returns its output (standard output and error, "\r\n" turned
// into "\n") and exit status. The command is wrapped in markers that the
// guest prints before and after it, with the exit status; the markers are
// printed by printf from separate words, so the echo of the typed line
// (when the terminal echoes) never matches them, and a fresh token in each
// makes output of earlier commands never match either. The command may
// span lines; its standard input is /dev/null. Kernel messages printed
// while it runs would appear in the output: Login turns them off. A
// command that does not end is stopped by ctx only on our side: its
// output and markers may still come later, and are skipped by the next
// Run.
func (c *Console) Run(ctx context.Context, cmd string) (string, int, error) {
	tok := c.token()
	line := "printf 'icosvm-%s-%s\\n' begin " + tok + "; { " + cmd +
		"\n} </dev/null; printf '\\nicosvm-%s-%s-%d\\n' end " + tok + " \"$?\"\n"
	for _, l := range strings.Split(line, "\n") {
		if len(l) > maxLine {
			return "", -1, fmt.Errorf("vm: console: command line of %d bytes: the guest's terminal takes at most %d", len(l), maxLine)
		}
	}
	begin := regexp.MustCompile(`icosvm-begin-` + regexp.QuoteMeta(tok) + `\r?\n`)
	end := regexp.MustCompile(`\r?\nicosvm-end-` + regexp.QuoteMeta(tok) + `-(\d+)\r?\n`)
	if err := c.Send(line); err != nil {
		return "", -1, err
	}
	if _, _, err := c.expect(ctx, begin); err != nil {
		return "", -1, err
	}
	out, m, err := c.expect(ctx, end)
	if err != nil {
		return "", -1, err
	}
	status, err := strconv.Atoi(m[1])
	if err != nil {
		return "", -1, fmt.Errorf("vm: console: exit status %q: %w", m[1], err)
	}
	return strings.ReplaceAll(out, "\r\n", "\n"), status, nil
}
