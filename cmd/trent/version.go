package main

import (
	"flag"
	"fmt"
	"runtime"
	"runtime/debug"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3". When
// empty, the module version from the build information is used.
var version string

const versionUsage = `Usage: trent version [-v]   (or trent --version)

Prints the version of trent: the one set at link time
(-ldflags "-X main.version=v1.2.3"), else the module version, else "devel"
with the VCS revision; then the revision, its time, and the Go version and
platform. With -v, also the module dependencies.

Flags:
`

func init() {
	commands["version"] = command{summary: "print the version and build information", run: runVersion,
		usage: versionUsage, flags: func() *flag.FlagSet { return versionFlags(new(bool)) }}
}

func versionFlags(verbose *bool) *flag.FlagSet {
	fs := flag.NewFlagSet("trent version", flag.ContinueOnError)
	fs.BoolVar(verbose, "v", false, "also list the module dependencies")
	return fs
}

func runVersion(args []string) int {
	var verbose bool
	pos, code, ok := parseFlags("version", versionFlags(&verbose), versionUsage, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		errorf("version: unexpected argument %q", pos[0])
		hintf("trent version takes no arguments")
		return 2
	}
	bi, _ := debug.ReadBuildInfo()
	fmt.Printf("trent %s\n", versionString(bi))
	if rev, at, dirty := vcs(bi); rev != "" {
		fmt.Printf("  commit  %s%s", rev, dirty)
		if at != "" {
			fmt.Printf(" (%s)", at)
		}
		fmt.Println()
	}
	fmt.Printf("  go      %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if verbose && bi != nil {
		for _, d := range bi.Deps {
			if d.Replace != nil {
				d = d.Replace
			}
			fmt.Printf("  dep     %s %s\n", d.Path, d.Version)
		}
	}
	return 0
}

// versionString is the link-time version, the module version, or
// devel-REVISION[+dirty].
func versionString(bi *debug.BuildInfo) string {
	if version != "" {
		return version
	}
	if bi == nil {
		return "(unknown)"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, _, dirty := vcs(bi)
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		return "devel"
	}
	return "devel-" + rev + dirty
}

// vcs returns the revision, its time and "+dirty" for a modified tree.
func vcs(bi *debug.BuildInfo) (rev, at, dirty string) {
	if bi == nil {
		return "", "", ""
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	return rev, at, dirty
}
