package config

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
)

// Value is the typed value behind a setting's text: a flag.Value that also
// names its type for the reference. Set rejects text of the wrong type with
// an error that says what is accepted and does not repeat the text (the
// caller adds it, unless the setting is secret).
type Value interface {
	flag.Value
	Type() string
}

// String binds a string setting.
func String(p *string) Value { return (*stringValue)(p) }

type stringValue string

func (v *stringValue) Set(s string) error { *v = stringValue(s); return nil }
func (v *stringValue) String() string {
	if v == nil {
		return ""
	}
	return string(*v)
}
func (v *stringValue) Type() string { return "string" }

// boolChoices are the spellings strconv.ParseBool accepts.
const boolChoices = "1, t, T, TRUE, true, True, 0, f, F, FALSE, false, False"

// Bool binds a boolean setting: what strconv.ParseBool accepts. As a flag,
// --NAME alone means true.
func Bool(p *bool) Value { return (*boolValue)(p) }

type boolValue bool

func (v *boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("not a boolean (accepted: " + boolChoices + ")")
	}
	*v = boolValue(b)
	return nil
}
func (v *boolValue) String() string {
	if v == nil {
		return "false"
	}
	return strconv.FormatBool(bool(*v))
}
func (v *boolValue) Type() string     { return "bool" }
func (v *boolValue) IsBoolFlag() bool { return true }

// Duration binds a duration setting ("30s", "5m", "1h30m").
func Duration(p *time.Duration) Value { return (*durationValue)(p) }

type durationValue time.Duration

func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return errors.New("not a duration (e.g. 500ms, 30s, 5m, 1h)")
	}
	*v = durationValue(d)
	return nil
}
func (v *durationValue) String() string {
	if v == nil {
		return "0s"
	}
	return time.Duration(*v).String()
}
func (v *durationValue) Type() string { return "duration" }

// Int binds a non-negative integer setting.
func Int(p *int) Value { return (*intValue)(p) }

type intValue int

func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return errors.New("not a non-negative integer")
	}
	*v = intValue(n)
	return nil
}
func (v *intValue) String() string {
	if v == nil {
		return "0"
	}
	return strconv.Itoa(int(*v))
}
func (v *intValue) Type() string { return "integer" }

// OneOf binds a string setting that takes one of choices. The empty string
// is accepted only when it is one of the choices.
func OneOf(p *string, choices ...string) Value { return &enumValue{p, choices} }

type enumValue struct {
	p       *string
	choices []string
}

func (v *enumValue) Set(s string) error {
	for _, c := range v.choices {
		if s == c {
			*v.p = s
			return nil
		}
	}
	return fmt.Errorf("want one of: %s", strings.Join(v.choices, ", "))
}
func (v *enumValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v *enumValue) Type() string { return strings.Join(v.choices, " | ") }

// Level binds a log level: debug, info, warn or error.
func Level(p *slog.Level) Value { return (*levelValue)(p) }

type levelValue slog.Level

func (v *levelValue) Set(s string) error {
	switch strings.ToLower(s) {
	case "debug", "info", "warn", "error":
	default:
		return errors.New("want one of: debug, info, warn, error")
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return errors.New("want one of: debug, info, warn, error")
	}
	*v = levelValue(l)
	return nil
}
func (v *levelValue) String() string {
	if v == nil {
		return "info"
	}
	return strings.ToLower(slog.Level(*v).String())
}
func (v *levelValue) Type() string { return "debug | info | warn | error" }
