package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/rootfs"
)

func init() {
	register(&cli.Command{
		Name:  "tar",
		Usage: "work with tar archives",
		Subcommands: []*cli.Command{{
			Name:      "normalize",
			Usage:     "rewrite a tar in normal form: sorted, fixed times, no user names",
			UsageText: "icos tar normalize -i in.tar|- -o out.tar|- [--mtime 0] [--exclude GLOB ...] [--strict]",
			Description: "Entries are sorted parents first, all mtimes set to --mtime (atime and ctime are not stored), " +
				"numeric uid/gid kept, user/group names dropped, xattrs (SCHILY.xattr.*) kept, PAX headers written " +
				"only where needed. Missing parent directories are added as 0755 root:root. A path given twice " +
				"keeps its last occurrence (an error with --strict). Unsafe names, broken hard links and " +
				"truncated or malformed input are errors naming the entry; no output is written then. " +
				"It is the normal form icos rootfs writes (package tools/rootfs, Normalize).",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Value: "-", Usage: "tar `FILE` to read, - for standard input"},
				&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: "-", Usage: "tar `FILE` to write (atomically), - for standard output"},
				&cli.Int64Flag{Name: "mtime", Value: 0, Usage: "modification time of every entry, in Unix `SECONDS`"},
				&cli.GenericFlag{Name: "exclude", Value: &globList{}, Usage: "drop entries matching `GLOB` (path.Match on names like usr/bin/x) and everything below them: 'run/*' keeps run/ but drops its contents, 'run' drops both; repeatable"},
				&cli.BoolFlag{Name: "strict", Usage: "make a path that occurs twice an error instead of keeping the last one"},
			},
			Action: noArgs(runTarNormalize),
		}},
	})
}

// globList collects a repeatable flag without splitting values on commas
// (a glob may contain one).
type globList struct{ globs []string }

func (g *globList) Set(v string) error { g.globs = append(g.globs, v); return nil }
func (g *globList) String() string     { return strings.Join(g.globs, " ") }

func runTarNormalize(c *cli.Context) error {
	opts := rootfs.NormalizeOptions{
		ModTime: c.Int64("mtime"),
		Strict:  c.Bool("strict"),
	}
	if g, ok := c.Generic("exclude").(*globList); ok {
		// The flag value lives in the command definition: empty it so a
		// second run of the app in one process (tests) starts afresh.
		opts.Exclude, g.globs = g.globs, nil
	}
	err := rootfs.NormalizeFile(c.String("output"), c.String("input"), opts)
	return emptyTarError(c.String("input"), err)
}
