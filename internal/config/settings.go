package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
)

// Setting is one row of a settings table: everything about one setting,
// written once. From the row come the flag --NAME, the environment variable
// TRENT_NAME (upper case, dashes as underscores), the key NAME of the
// configuration file, the line of --help, and the entries of the generated
// configuration reference and example file.
type Setting[T any] struct {
	// Name is the flag name and the YAML key: lower case, words joined by
	// dashes ("data-dir").
	Name string
	// Group is the heading under which --help and the reference list the
	// setting ("Server", "TLS", "Logging", ...). Rows of a group stay
	// together in the table.
	Group string
	// Default is the default in its text form, as it would be typed on the
	// command line; empty for an empty string, false or zero.
	Default string
	// Help is the one-line description of --help. A word in backquotes
	// names the value in the usage ("listen `HOST:PORT`").
	Help string
	// Doc, optional, says more in the reference and the example file.
	Doc string
	// Value binds the row to its field of T (String(&c.Addr), Bool(&c.Dev),
	// OneOf(&c.Mlock, "required", "best-effort", "off"), ...). The Value
	// rejects text of the wrong type.
	Value func(c *T) Value
	// Check, optional, validates the text of a value from any source
	// (flag, environment, file, default). Checks across settings belong in
	// the Validate method of T.
	Check func(text string) error
	// Secret values are never echoed in errors or summaries.
	Secret bool
	// NotInFile settings are read from the flag and the environment only
	// (the configuration file's own path).
	NotInFile bool
}

// Env is the environment variable of the setting: TRENT_DATA_DIR.
func (s *Setting[T]) Env() string { return EnvName(s.Name) }

// EnvName is the environment variable of a setting name: data-dir ->
// TRENT_DATA_DIR.
func EnvName(name string) string {
	return "TRENT_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
}

// FileSetting is the name of the setting, present in every table that reads
// a configuration file, whose value is the path of that file.
const FileSetting = "config"

// Table is a list of settings bound to the fields of a configuration type T.
type Table[T any] []Setting[T]

// Defaults sets every setting of c to its default. A default that its own
// Value or Check rejects is a programmer error: Defaults panics.
func (t Table[T]) Defaults(c *T) {
	for i := range t {
		s := &t[i]
		if err := s.set(c, s.Default); err != nil {
			panic(fmt.Sprintf("config: default of %s: %v", s.Name, err))
		}
	}
}

func (s *Setting[T]) set(c *T, text string) error {
	if err := s.Value(c).Set(text); err != nil {
		return err
	}
	if s.Check != nil {
		return s.Check(text)
	}
	return nil
}

// describe names the value in an error: `"abc"`, or nothing for a secret.
func (s *Setting[T]) describe(text string) string {
	if s.Secret {
		return "value"
	}
	return fmt.Sprintf("%q", text)
}

// FlagSet returns a flag set with one flag per setting, bound to c. Its
// output is discarded: callers print errors in their own style.
func (t Table[T]) FlagSet(name string, c *T) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for i := range t {
		s := &t[i]
		fs.Var(checked[T]{s, s.Value(c)}, s.Name, s.Help)
	}
	return fs
}

// checked adds the row's Check to its Value for the flag package.
type checked[T any] struct {
	s *Setting[T]
	Value
}

func (v checked[T]) Set(text string) error {
	if err := v.Value.Set(text); err != nil {
		return err
	}
	if v.s.Check != nil {
		return v.s.Check(text)
	}
	return nil
}

func (v checked[T]) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// Origins says where each setting that is not at its default came from:
// "--data-dir", "TRENT_DATA_DIR" or "trent.yaml:3".
type Origins map[string]string

// Apply fills c, after fs (from FlagSet) has parsed the command line, in
// order of precedence: the flags given, then the environment (lookup, e.g.
// os.LookupEnv; an empty variable counts as unset), then the configuration
// file named by the FileSetting, then the defaults already in c. It reports every problem, each naming its
// source, not just the first.
func (t Table[T]) Apply(c *T, fs *flag.FlagSet, lookup func(string) (string, bool)) (Origins, error) {
	origins := Origins{}
	fs.Visit(func(f *flag.Flag) { origins[f.Name] = "--" + f.Name })
	var errs []error
	for i := range t {
		s := &t[i]
		if origins[s.Name] != "" {
			continue
		}
		v, ok := lookup(s.Env())
		if !ok || v == "" {
			continue // an empty variable is unset, as in most shells' ${X:-default}
		}
		if err := s.set(c, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%s: %w", s.Env(), s.describe(v), err))
		}
		origins[s.Name] = s.Env()
	}
	if path := t.filePath(c); path != "" {
		f, err := LoadFile(path)
		if err != nil {
			errs = append(errs, err)
		} else {
			errs = append(errs, t.applyFile(c, f, origins)...)
		}
	}
	return origins, errors.Join(errs...)
}

func (t Table[T]) filePath(c *T) string {
	for i := range t {
		if t[i].Name == FileSetting {
			return t[i].Value(c).String()
		}
	}
	return ""
}

func (t Table[T]) applyFile(c *T, f *File, origins Origins) []error {
	var errs []error
	byName := map[string]*Setting[T]{}
	for i := range t {
		if !t[i].NotInFile {
			byName[t[i].Name] = &t[i]
		}
	}
	for _, e := range f.entries {
		s, ok := byName[e.key]
		where := fmt.Sprintf("%s:%d", f.Path, e.line)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: unknown setting %q%s", where, e.key, t.suggest(e.key)))
			continue
		}
		if origins[s.Name] != "" {
			continue
		}
		if err := s.set(c, e.value); err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %s: %w", where, s.Name, s.describe(e.value), err))
		}
		origins[s.Name] = where
	}
	return errs
}

// suggest names the settings close to an unknown key.
func (t Table[T]) suggest(key string) string {
	var close []string
	for i := range t {
		n := t[i].Name
		if t[i].NotInFile {
			continue
		}
		d := editDistance(n, key)
		contains := min(len(n), len(key)) >= 4 && (strings.Contains(n, key) || strings.Contains(key, n))
		if contains || d <= 1 || d <= 2 && len(key) >= 5 {
			close = append(close, n)
		}
	}
	if len(close) == 0 {
		return " (see docs/configuration.md)"
	}
	return fmt.Sprintf(" (did you mean %s?)", strings.Join(close, ", "))
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// PrintUsage writes the flags of t, grouped, for --help: each with its
// value name, help, default and environment variable.
func (t Table[T]) PrintUsage(w io.Writer) {
	group := "\x00"
	for i := range t {
		s := &t[i]
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(w, "\n%s:\n", group)
		}
		name, help := s.unquote()
		fmt.Fprintf(w, "  --%s", s.Name)
		if name != "" {
			fmt.Fprintf(w, " %s", name)
		}
		fmt.Fprintf(w, "\n        %s\n        ", help)
		if s.Default != "" {
			fmt.Fprintf(w, "default %s; ", s.Default)
		}
		fmt.Fprintf(w, "env %s", s.Env())
		if !s.NotInFile {
			fmt.Fprintf(w, "; file key %s", s.Name)
		}
		fmt.Fprintln(w)
	}
}

// unquote returns the value name of the usage (the word in backquotes, or
// the type) and the help without the backquotes.
func (s *Setting[T]) unquote() (name, help string) {
	help = s.Help
	if i := strings.IndexByte(help, '`'); i >= 0 {
		if j := strings.IndexByte(help[i+1:], '`'); j >= 0 {
			name = help[i+1 : i+1+j]
			return name, help[:i] + name + help[i+1+j+1:]
		}
	}
	var zero T
	v := s.Value(&zero)
	if b, ok := v.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
		return "", help
	}
	if strings.Contains(v.Type(), "|") {
		return "value", help // a choice: the help lists them
	}
	return v.Type(), help
}

// text is the help and the doc, as sentences.
func (s *Setting[T]) text() string {
	_, help := s.unquote()
	text := strings.ToUpper(help[:1]) + help[1:] + "."
	if s.Doc != "" {
		text += " " + s.Doc
	}
	return text
}

// Reference renders the configuration reference (docs/configuration.md) in
// Markdown: one table per group, then the longer notes.
func (t Table[T]) Reference(intro string) string {
	var b strings.Builder
	b.WriteString(intro)
	group := "\x00"
	for i := range t {
		s := &t[i]
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(&b, "\n## %s\n\n", group)
			b.WriteString("| Flag | Environment | File key | Type | Default | Description |\n")
			b.WriteString("|---|---|---|---|---|---|\n")
		}
		name, _ := s.unquote()
		var zero T
		flagText := "--" + s.Name
		if name != "" {
			flagText += " " + name
		}
		key := "`" + s.Name + "`"
		if s.NotInFile {
			key = "(none)"
		}
		def := "`" + s.Default + "`"
		if s.Default == "" {
			def = ""
		}
		cell := strings.NewReplacer("|", `\|`, "<", "&lt;", ">", "&gt;").Replace
		fmt.Fprintf(&b, "| `%s` | `%s` | %s | %s | %s | %s |\n", flagText, s.Env(), key,
			cell(s.Value(&zero).Type()), def, cell(s.text()))
	}
	return b.String()
}

// Example renders a commented configuration file in which every setting
// appears, commented out at its default: a valid file that changes nothing.
func (t Table[T]) Example(header string) string {
	var b strings.Builder
	for _, line := range strings.Split(strings.TrimSpace(header), "\n") {
		b.WriteString(strings.TrimRight("# "+line, " ") + "\n")
	}
	b.WriteString("\nversion: v1\n")
	group := "\x00"
	for i := range t {
		s := &t[i]
		if s.NotInFile {
			continue
		}
		if s.Group != group {
			group = s.Group
			fmt.Fprintf(&b, "\n# ---- %s ----\n", group)
		}
		b.WriteString("\n")
		for _, line := range wrap(s.text(), 76) {
			b.WriteString("# " + line + "\n")
		}
		var zero T
		fmt.Fprintf(&b, "# (%s; environment %s)\n", s.Value(&zero).Type(), s.Env())
		fmt.Fprintf(&b, "# %s: %s\n", s.Name, yamlScalar(s.Default))
	}
	return b.String()
}

// yamlScalar quotes text that YAML would not read back as the same string.
func yamlScalar(s string) string {
	if s == "" {
		return `""`
	}
	if strings.ContainsAny(s[:1], "0123456789.-!&*[]{}|>'\"%@`#,?:") || strings.ContainsAny(s, ": #") ||
		strings.IndexFunc(s, func(r rune) bool { return !strconv.IsPrint(r) }) >= 0 {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, w := range strings.Fields(text) {
		if line != "" && len(line)+1+len(w) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += w
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// Names returns the setting names in table order.
func (t Table[T]) Names() []string {
	names := make([]string, len(t))
	for i := range t {
		names[i] = t[i].Name
	}
	return names
}

// Check reports mistakes in the table itself: duplicate or malformed names,
// missing help or value, split groups, defaults their own Value rejects.
// The table is code: its tests call Check.
func (t Table[T]) Check() error {
	seen := map[string]bool{}
	var errs []error
	for i := range t {
		n := t[i].Name
		if seen[n] {
			errs = append(errs, fmt.Errorf("config: setting %q declared twice", n))
		}
		seen[n] = true
		for _, c := range n {
			if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
				errs = append(errs, fmt.Errorf("config: setting name %q: want lower-case words joined by dashes", n))
				break
			}
		}
		if t[i].Help == "" || t[i].Value == nil {
			errs = append(errs, fmt.Errorf("config: setting %q needs Help and Value", n))
		}
	}
	groups := map[string]bool{}
	for i := range t {
		if i > 0 && t[i].Group != t[i-1].Group && groups[t[i].Group] {
			errs = append(errs, fmt.Errorf("config: group %q is split: keep its rows together", t[i].Group))
		}
		groups[t[i].Group] = true
	}
	var zero T
	for i := range t {
		if t[i].Value == nil {
			continue
		}
		if err := t[i].set(&zero, t[i].Default); err != nil {
			errs = append(errs, fmt.Errorf("config: default of %s: %w", t[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

// UnknownEnv lists the TRENT_* variables of environ (os.Environ()) that no
// setting of t reads, sorted: probably typos.
func (t Table[T]) UnknownEnv(environ []string) []string {
	known := map[string]bool{}
	for i := range t {
		known[t[i].Env()] = true
	}
	var unknown []string
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "TRENT_") && !known[k] {
			unknown = append(unknown, k)
		}
	}
	sort.Strings(unknown)
	return unknown
}
