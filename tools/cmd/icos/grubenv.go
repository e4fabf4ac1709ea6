package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/icos-build/icos/tools/grubenv"
	"github.com/icos-build/icos/tools/outfile"
)

func init() {
	register(&cli.Command{
		Name:  "grubenv",
		Usage: "write the GRUB environment block (grubenv), or list the variables of one",
		UsageText: "icos grubenv --output grubenv --set boot_alternative=A --set boot_cycle=install\n" +
			"   icos grubenv --input grubenv --list\n" +
			"   icos grubenv --input grubenv --output new-grubenv --set boot_alternative=B",
		Description: "Writes the 1024-byte environment block that GRUB's load_env reads, byte for byte what " +
			"`grub-editenv FILE set` writes on an empty block (without the warning comment of `grub-editenv create`): " +
			"the variables in the order of the --set flags, after those of --input if given (a variable of --input " +
			"set again keeps its place). Names are ASCII letters, digits and '_', not starting with a digit; values " +
			"may hold any byte but NUL, a backslash or a newline is stored escaped. With --list, prints the variables of " +
			"--input as name=value lines, as `grub-editenv FILE list` does. See package tools/grubenv.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "write the block to `FILE`"},
			&cli.StringFlag{Name: "input", Aliases: []string{"i"}, Usage: "environment block `FILE` to list, or to start from"},
			&cli.GenericFlag{Name: "set", Value: &assignments{}, Usage: "set a variable: `NAME=VALUE`, split at the first '=' (the value may hold commas); repeatable"},
			&cli.BoolFlag{Name: "list", Usage: "print the variables of --input, one name=value line each"},
		},
		Action: grubenvAction,
	})
}

// assignments collects the repeatable --set flag without splitting values
// on commas.
type assignments struct{ list []string }

func (a *assignments) Set(v string) error { a.list = append(a.list, v); return nil }
func (a *assignments) String() string     { return strings.Join(a.list, " ") }

// grubenvAction takes the --set values out of the flag, whose value lives
// in the command definition, so that a second run of the app in one
// process (tests) starts afresh even when this one fails on its
// arguments; then it runs runGrubenv.
func grubenvAction(c *cli.Context) error {
	var sets []string
	if a, ok := c.Generic("set").(*assignments); ok {
		sets, a.list = a.list, nil
	}
	return noArgs(func(c *cli.Context) error { return runGrubenv(c, sets) })(c)
}

// runGrubenv writes or lists the block, sets holding the --set values.
func runGrubenv(c *cli.Context, sets []string) error {
	input, output := c.String("input"), c.String("output")
	if c.Bool("list") {
		if input == "" || output != "" || len(sets) > 0 {
			return errors.New("--list takes --input only, not --output or --set")
		}
	} else if output == "" {
		return errors.New("give --output (and --set), or --input and --list")
	}

	var vars []grubenv.Var
	if input != "" {
		b, err := os.ReadFile(input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		if vars, err = grubenv.Decode(b); err != nil {
			return &inputError{input, err}
		}
	}
	if c.Bool("list") {
		var out strings.Builder
		for _, v := range vars {
			out.WriteString(v.Name + "=" + v.Value + "\n")
		}
		_, err := fmt.Fprint(c.App.Writer, out.String())
		return err
	}

	given := map[string]bool{}
	for _, s := range sets {
		name, value, ok := strings.Cut(s, "=")
		if !ok {
			return fmt.Errorf("--set %q: want NAME=VALUE", s)
		}
		if given[name] {
			return fmt.Errorf("--set: variable %q given twice", name)
		}
		given[name] = true
		vars = grubenv.Set(vars, name, value)
	}
	b, err := grubenv.Encode(vars)
	if err != nil {
		return err
	}
	out, err := outfile.Create(output, 0o644)
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer out.Abort()
	if _, err := out.Write(b); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return out.Commit()
}

// inputError is an error of grubenv.Decode about the --input file: the
// file's name takes the place of the package prefix, which the command's
// prefix ("icos grubenv: ") stands for.
type inputError struct {
	name string
	err  error
}

func (e *inputError) Error() string {
	return "--input " + e.name + ": " + strings.TrimPrefix(e.err.Error(), "grubenv: ")
}
func (e *inputError) Unwrap() error { return e.err }
