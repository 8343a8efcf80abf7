package config

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Error is one problem in a config file: where it is and what is wrong.
type Error struct {
	Path string // like wan[1].probes[0].target; empty for the whole file
	Line int    // 0 when the field is missing from the file
	Msg  string
}

func (e Error) String() string {
	var b strings.Builder
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Msg)
	if e.Line > 0 {
		fmt.Fprintf(&b, " (line %d)", e.Line)
	}
	return b.String()
}

// Errors is every problem found in one config file.
type Errors struct {
	File string
	List []Error
}

func (e *Errors) Error() string {
	prefix := "config"
	if e.File != "" {
		prefix = e.File
	}
	if len(e.List) == 1 {
		return prefix + ": " + e.List[0].String()
	}
	lines := make([]string, len(e.List))
	for i, x := range e.List {
		lines[i] = "  " + x.String()
	}
	return fmt.Sprintf("%s: %d problems:\n%s", prefix, len(e.List), strings.Join(lines, "\n"))
}

// maxErrors is how many problems one file reports; the rest are counted.
// Errors reach logs and head office (config/reported), so they are bounded
// however bad the file.
const maxErrors = 50

// errorList keeps the first maxErrors problems and counts all of them.
type errorList struct {
	list []Error
	n    int
}

func (l *errorList) add(e Error) {
	l.n++
	if len(l.list) < maxErrors {
		l.list = append(l.list, e)
	}
}

func (l *errorList) errors() *Errors {
	list := l.list
	if more := l.n - len(list); more > 0 {
		list = append(list, Error{Msg: fmt.Sprintf("and %d more problems", more)})
	}
	return &Errors{List: list}
}

// maxValue is how much of a value an error message repeats.
const maxValue = 64

// clip shortens long string arguments of an error message, so a
// megabyte-long value is not echoed back in full.
func clip(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		if s, ok := a.(string); ok && len(s) > maxValue {
			cut := maxValue
			for cut > 0 && !utf8.RuneStart(s[cut]) {
				cut--
			}
			a = s[:cut] + "…"
		}
		out[i] = a
	}
	return out
}
