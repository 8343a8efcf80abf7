package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Load reads, decodes and validates a config file. Secret files named in it
// are read relative to the file's directory. The error is an *Errors that
// lists every problem with its field path and line.
func Load(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	// One byte past the cap is enough for Parse to refuse the file.
	data, err := io.ReadAll(io.LimitReader(f, MaxSize+1))
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, filepath.Dir(path))
	if err != nil {
		var errs *Errors
		if errors.As(err, &errs) {
			errs.File = path
		}
		return nil, err
	}
	return c, nil
}

// MaxSize is the largest config accepted, in bytes: 13 times the fully
// commented example. yaml.v3 allocates up to 240 bytes per input byte for a
// dense flow list, so this cap keeps any file under about 31 MiB of
// allocation (1 MiB could take 244 MiB on a box with 1 GiB of RAM).
const MaxSize = 128 << 10

// Parse decodes and validates config bytes; relative secret files are read
// from baseDir.
func Parse(data []byte, baseDir string) (*Config, error) {
	if len(data) > MaxSize {
		return nil, &Errors{List: []Error{{Msg: fmt.Sprintf("larger than %d KiB", MaxSize>>10)}}}
	}
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Errors{List: []Error{{Msg: "the file is empty"}}}
		}
		return nil, &Errors{List: []Error{{Msg: strings.TrimPrefix(err.Error(), "yaml: ")}}}
	}
	// A second document used to be ignored: a config pasted twice, or
	// settings after a stray "---", would silently not apply.
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		line := 0
		if err == nil {
			line = extra.Line
		}
		return nil, &Errors{List: []Error{{Line: line, Msg: "a second YAML document (after ---): a config is one document"}}}
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	w := walker{lines: map[string]int{}}
	w.walk(root, reflect.TypeFor[Config](), "")
	if w.errs.n > 0 {
		return nil, w.errs.errors()
	}
	c := Defaults()
	if err := root.Decode(&c); err != nil {
		// The walker checks every scalar first, so this is a bug, not input.
		return nil, &Errors{List: []Error{{Msg: "decode: " + err.Error()}}}
	}
	applyListDefaults(&c)
	v := validator{lines: w.lines, baseDir: baseDir}
	v.config(&c)
	if v.errs.n > 0 {
		return nil, v.errs.errors()
	}
	return &c, nil
}

// walker checks a YAML tree against the Go types before anything is decoded:
// unknown and duplicate keys, wrong shapes and unparsable scalars all come out
// as path-precise errors. It also records each path's line for validation.
type walker struct {
	lines  map[string]int
	errs   errorList
	fields map[reflect.Type]fields
}

var scalarType = reflect.TypeFor[scalar]()

func (w *walker) fail(n *yaml.Node, path, format string, args ...any) {
	w.errs.add(Error{Path: path, Line: n.Line, Msg: fmt.Sprintf(format, clip(args)...)})
}

func (w *walker) walk(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind == yaml.AliasNode {
		// Following aliases let 20 KB of YAML expand into a billion paths
		// (and as many errors); a config has no need for them.
		w.fail(n, path, "*%s: aliases are not allowed in a config; write the value out", n.Value)
		return
	}
	w.lines[path] = n.Line
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return // absent: the default stays
	}
	if reflect.PointerTo(t).Implements(scalarType) {
		if n.Kind != yaml.ScalarNode {
			w.fail(n, path, "expected a single value, found %s", kindName(n))
			return
		}
		if err := reflect.New(t).Interface().(scalar).parse(n.Value); err != nil {
			w.fail(n, path, "%s", err)
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		w.mapping(n, t, path)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			w.fail(n, path, "expected a list, found %s", kindName(n))
			return
		}
		for i, item := range n.Content {
			w.walk(item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			w.fail(n, path, "expected a mapping, found %s", kindName(n))
			return
		}
		seen := map[string]bool{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := fmt.Sprintf("%s[%q]", path, k.Value)
			if seen[k.Value] {
				w.fail(k, p, "defined twice")
				continue
			}
			seen[k.Value] = true
			w.walk(v, t.Elem(), p)
		}
	default:
		w.basic(n, t, path)
	}
}

func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.MappingNode {
		w.fail(n, path, "expected a mapping of fields, found %s", kindName(n))
		return
	}
	fs := w.fieldsOf(t)
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := joinPath(path, k.Value)
		ft, ok := fs.types[k.Value]
		switch {
		case !ok:
			msg := "unknown field"
			if s := suggest(k.Value, fs.names); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			w.fail(k, p, "%s", msg)
		case seen[k.Value]:
			w.fail(k, p, "defined twice")
		default:
			seen[k.Value] = true
			w.walk(v, ft, p)
		}
	}
}

// fields is a struct's YAML field names and their types.
type fields struct {
	types map[string]reflect.Type
	names []string
}

// fieldsOf reads t's fields once per parse: a long list of one struct
// type would otherwise rebuild them for every item.
func (w *walker) fieldsOf(t reflect.Type) fields {
	if fs, ok := w.fields[t]; ok {
		return fs
	}
	fs := fields{types: map[string]reflect.Type{}}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fs.types[name] = f.Type
		fs.names = append(fs.names, name)
	}
	if w.fields == nil {
		w.fields = map[reflect.Type]fields{}
	}
	w.fields[t] = fs
	return fs
}

func (w *walker) basic(n *yaml.Node, t reflect.Type, path string) {
	if n.Kind != yaml.ScalarNode {
		w.fail(n, path, "expected a single value, found %s", kindName(n))
		return
	}
	switch t.Kind() {
	case reflect.String:
		// Any scalar is fine: "site: 0042" is a string to us.
	case reflect.Bool:
		if n.ShortTag() != "!!bool" {
			w.fail(n, path, "%q: not true or false", n.Value)
		}
	case reflect.Int, reflect.Int64:
		if _, err := strconv.ParseInt(n.Value, 0, 64); err != nil || n.ShortTag() != "!!int" {
			w.fail(n, path, "%q: not a whole number", n.Value)
		}
	default:
		w.fail(n, path, "unsupported field type %s", t)
	}
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	default:
		return fmt.Sprintf("%q", n.Value)
	}
}

func joinPath(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// suggest returns the known name closest to a misspelt one, if close enough.
func suggest(got string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(got, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
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
