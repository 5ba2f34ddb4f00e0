// Command trent is Trent's one binary: the KMS server and its client-side
// tools.
//
//	trent server [flags]     run the AWS-KMS-compatible server
//	trent encrypt [flags]    envelope-encrypt a file
//	trent decrypt [flags]    decrypt what trent encrypt wrote
//	trent version            print the version
//
// Each command is a file of this package that registers itself in commands
// from an init function.
package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// command is one subcommand. run gets the arguments after the command name
// and returns the exit code: 0 success, 1 failure, 2 usage error.
type command struct {
	summary string
	run     func(args []string) int
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
		}
		usage(os.Stdout)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		errorf("unknown command %q", name)
		hintf("run 'trent help' for the list of commands")
		return 2
	}
	return c.run(args[1:])
}

func usage(w io.Writer) {
	fmt.Fprint(w, "Usage: trent <command> [flags]\n\nCommands:\n")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRun 'trent <command> -h' for the flags of a command.\n")
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
