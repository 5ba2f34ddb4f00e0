// Command trent is Trent's one binary: the KMS server and its client-side
// tools.
//
//	trent server [flags]     run the AWS-KMS-compatible server
//	trent encrypt [flags]    envelope-encrypt a file
//	trent decrypt [flags]    decrypt what trent encrypt wrote
//	trent version            print the version and build information
//	trent completion SHELL   shell completion for bash, zsh or fish
//	trent man                the manual page (troff)
//
// Each command is a file of this package that registers itself in commands
// from an init function, with its summary, usage text and flag set: the
// help, the shell completion and the manual page all come from there.
//
// Errors are one line "trent: error: ..." and at most one line
// "trent: hint: ..." on standard error; a bad flag or value exits 2 without
// printing the usage.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. run gets the arguments after the command name
// and returns the exit code: 0 success, 1 failure, 2 usage error.
//
// usage (the text of -h before the flags), flags (a flag set of the
// command: its values need not be the ones run uses), sub (the names of
// its subcommands) and subFlags (the flag set of a subcommand, nil if it
// has none) are optional: when given, `trent completion` and `trent man`
// list them, so a command is described in one place.
type command struct {
	summary  string
	run      func(args []string) int
	usage    string
	flags    func() *flag.FlagSet
	sub      []string
	subFlags func(sub string) *flag.FlagSet
}

// commands is filled by the init functions of the command files.
var commands = map[string]command{}

// stderr receives errors, hints and usage errors (tests replace it).
var stderr io.Writer = os.Stderr

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run([]string{"-h"})
			}
			errorf("help: unknown command %q", args[1])
			hintf("run 'trent help' for the list of commands")
			return 2
		}
		usage(os.Stdout)
		return 0
	case "-version", "--version", "-V":
		return runVersion(args[1:])
	}
	c, ok := commands[name]
	if !ok {
		errorf("unknown command %q", name)
		hintf("run 'trent help' for the list of commands")
		return 2
	}
	return c.run(args[1:])
}

// commandNames returns the names of the commands, sorted.
func commandNames() []string {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: trent <command> [flags]\n\nCommands:\n")
	width := 0
	for _, n := range commandNames() {
		width = max(width, len(n))
	}
	for _, n := range commandNames() {
		fmt.Fprintf(w, "  %-*s  %s\n", width, n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRun 'trent <command> -h' for the flags of a command, 'trent --version' for the version.\n")
}

// parseFlags parses args with fs for the command name (as typed: "encrypt",
// "operator init"), flags before or after the positional arguments. On -h
// it prints usage and the flags to standard output; on a bad flag or value
// it prints one error and one hint, never the usage. ok=false means return
// code.
func parseFlags(name string, fs *flag.FlagSet, usage string, args []string) (pos []string, code int, ok bool) {
	fs.SetOutput(io.Discard)
	pos, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprint(os.Stdout, usage)
		printFlags(os.Stdout, fs)
		return nil, 0, false
	}
	if err != nil {
		errorf("%s: %v", name, err)
		hintf("run 'trent %s -h' for the flags", name)
		return nil, 2, false
	}
	return pos, 0, true
}

// printFlags writes the flags of fs as flag.PrintDefaults does, with two
// dashes.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var b strings.Builder
	fs.VisitAll(func(f *flag.Flag) {
		name, help := flag.UnquoteUsage(f)
		dash := "--"
		if len(f.Name) == 1 {
			dash = "-"
		}
		fmt.Fprintf(&b, "  %s%s", dash, f.Name)
		if name != "" {
			fmt.Fprintf(&b, " %s", name)
		}
		fmt.Fprintf(&b, "\n        %s", help)
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "[]" {
			fmt.Fprintf(&b, " (default %s)", f.DefValue)
		}
		b.WriteString("\n")
	})
	io.WriteString(w, b.String())
}

// parseInterspersed parses flags placed before or after the positional
// arguments (trent decrypt in.msg -o out) and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// errorf prints "trent: error: ..." to stderr.
func errorf(format string, args ...any) {
	fmt.Fprintf(stderr, "trent: error: "+format+"\n", args...)
}

// fail prints err as "trent: error: ..." (one line each for joined
// errors), then the hint of the first error in its tree that has one.
func fail(err error) {
	for _, line := range strings.Split(err.Error(), "\n") {
		errorf("%s", line)
	}
	var h interface{ Hint() string }
	if errors.As(err, &h) {
		hintf("%s", h.Hint())
	}
}

// hintf prints "trent: hint: ..." to stderr.
func hintf(format string, args ...any) {
	fmt.Fprintf(stderr, "trent: hint: "+format+"\n", args...)
}
