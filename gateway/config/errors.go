package config

import (
	"fmt"
	"strings"
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
