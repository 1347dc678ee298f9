package model

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"

	yaml "sigs.k8s.io/yaml/goyaml.v3"
)

// Limits of one file. With loader.MaxFileSize they bound what parsing any
// file can cost (at most 1 s of CPU and 64 MB, measured in
// docs/performance.md), so a hostile commit cannot exhaust the hub.
const (
	// MaxDocuments bounds the documents one file may hold.
	MaxDocuments = 1000
	// MaxNodes bounds the YAML nodes one file decodes to, where an alias
	// counts every node it repeats, each time it is used. A file without
	// aliases stays far below it (a 256 KiB file holds at most ~131,000
	// nodes); nested aliases ("billion laughs") reach it quickly and make
	// the file an error instead of an exponential or quadratic cost.
	MaxNodes = 200_000
	// MaxText bounds the bytes of text (scalars and keys) one file decodes
	// to, an alias counting its text each time it is used: one alias of a
	// long string is one node but can stand for megabytes.
	MaxText = 1 << 20
	// MaxErrors bounds the problems reported for one file; one more error
	// says how many were left out.
	MaxErrors = 100
)

// ParseFile parses every YAML document of one workload file and validates each
// object on its own. It returns the objects that are valid and one *Error per
// problem; an invalid document yields no object, so callers can keep the last
// good version of it. Empty documents are skipped. Rules that span documents
// and files are in Check.
//
// A file whose aliases make it decode to more than MaxNodes nodes is an
// error at the line where the budget ran out, and its later documents are
// not read; at most MaxErrors problems are listed, then their count.
func ParseFile(file string, data []byte) (objs []Object, errs []error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	b := &budget{}
	defer func() {
		if b.dropped > 0 {
			errs = append(errs, &Error{File: file, Doc: -1, Msg: fmt.Sprintf("%d more problems not listed (at most %d are)", b.dropped, MaxErrors)})
		}
	}()
	for doc := 0; ; doc++ {
		var root yaml.Node
		err := dec.Decode(&root)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			// A syntax error ends the file: the YAML stream cannot be resynchronised.
			return objs, b.report(errs, &Error{File: file, Doc: doc, Line: syntaxLine(err), Msg: yamlMessage(err)})
		}
		if doc >= MaxDocuments {
			return objs, b.report(errs, &Error{File: file, Doc: doc, Line: root.Line, Msg: fmt.Sprintf("more than %d documents in one file", MaxDocuments)})
		}
		if len(root.Content) == 0 || isNull(root.Content[0]) {
			continue
		}
		d := &decoder{file: file, doc: doc, root: root.Content[0], b: b}
		obj := d.object(root.Content[0], "")
		if obj != nil && !b.over {
			d.validateTop(obj)
		}
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].(*Error).Line < d.errs[j].(*Error).Line })
		errs = append(errs, d.errs...)
		if d.broken == nil { // no problem, listed or not
			objs = append(objs, obj)
		}
		if b.over {
			// The rest of the file is not read: its documents keep
			// their last good versions.
			break
		}
	}
	return objs, errs
}

// budget is what one file may still cost; the decoders of its documents
// share it.
type budget struct {
	nodes, text int // nodes and bytes of text decoded so far, aliases expanded
	over        bool
	// reported counts the problems reported; dropped those left out.
	reported, dropped int
}

// report appends e to errs unless the file has reported MaxErrors already.
func (b *budget) report(errs []error, e *Error) []error {
	if b.reported >= MaxErrors {
		b.dropped++
		return errs
	}
	b.reported++
	return append(errs, e)
}

// decoder turns one YAML document into a typed object. It keeps the
// document's node tree so that validation can find the line of a field path
// (lineOf), and it collects every problem rather than stopping at the first,
// up to the file's MaxErrors.
type decoder struct {
	file string
	doc  int
	root *yaml.Node
	b    *budget
	// broken holds the paths that failed to decode, so that validation does
	// not report a second, confusing error for the same field.
	broken map[string]bool
	errs   []error
}

// fail records a problem at line; past the file's MaxErrors it only counts it.
func (d *decoder) fail(line int, path, format string, args ...any) {
	if d.broken == nil {
		d.broken = map[string]bool{}
	}
	d.broken[path] = true
	if d.b.reported >= MaxErrors {
		d.b.dropped++ // and no Sprintf for a message nobody reads
		return
	}
	d.errs = d.b.report(d.errs, &Error{File: d.file, Doc: d.doc, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

// charge counts the decoding of node n (resolved: the node an alias stands
// for) against the file's MaxNodes and MaxText; once over, it reports the
// line of at, where the budget ran out, and returns false, and every later
// call returns false.
func (d *decoder) charge(at, n *yaml.Node, path string) bool {
	if d.b.over {
		return false
	}
	d.b.nodes++
	d.b.text += len(n.Value)
	switch {
	case d.b.nodes > MaxNodes:
		d.fail(at.Line, path, "the file decodes to more than %d YAML nodes (an alias counts every node it repeats, each time it is used): use fewer or smaller aliases", MaxNodes)
	case d.b.text > MaxText:
		d.fail(at.Line, path, "the file decodes to more than %d bytes of text (an alias counts its text each time it is used): use fewer aliases of long values", MaxText)
	default:
		return true
	}
	d.b.over = true
	return false
}

// object decodes a mapping whose kind field selects its Go type.
func (d *decoder) object(n *yaml.Node, path string) Object {
	n = resolve(n)
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "must be a mapping with apiVersion, kind and metadata")
		return nil
	}
	kindNode := lookup(n, "kind")
	if kindNode == nil {
		d.fail(n.Line, join(path, "kind"), "is required (one of LRP, Task, Config, SelectorSyncSet)")
		return nil
	}
	obj := newObject(Kind(kindNode.Value))
	if obj == nil {
		d.fail(kindNode.Line, join(path, "kind"), "unknown kind %q (want LRP, Task, Config or SelectorSyncSet)", kindNode.Value)
		return nil
	}
	d.value(n, reflect.ValueOf(obj).Elem(), path)
	h := obj.Head()
	h.Source = Source{File: d.file, Doc: d.doc, Line: kindNode.Line}
	return obj
}

var resourceType = reflect.TypeOf(Resource{})

// value decodes the node at (an alias or not) into v, which must be
// settable. Each call costs the budget one node and its text, and each key
// of a mapping one more, so that the work of decoding is bounded whatever
// the aliases.
func (d *decoder) value(at *yaml.Node, v reflect.Value, path string) {
	n := resolve(at)
	if !d.charge(at, n, path) {
		return
	}
	if isNull(n) {
		return
	}
	if v.Type() == amountType {
		d.amount(n, v, path)
		return
	}
	if v.Type() == resourceType {
		obj := d.object(n, path)
		switch o := obj.(type) {
		case *LRP:
			v.Set(reflect.ValueOf(Resource{LRP: o}))
		case *Task:
			v.Set(reflect.ValueOf(Resource{Task: o}))
		case *Config:
			v.Set(reflect.ValueOf(Resource{Config: o}))
		case *SelectorSyncSet:
			d.fail(n.Line, path, "a SelectorSyncSet cannot contain another SelectorSyncSet")
		}
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		elem := reflect.New(v.Type().Elem())
		d.value(n, elem.Elem(), path)
		v.Set(elem)
	case reflect.Struct:
		d.structure(n, v, path)
	case reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n.Line, path, "must be a mapping, got %s", describe(n))
			return
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := resolve(n.Content[i]), n.Content[i+1]
			if !d.charge(n.Content[i], k, path) {
				return
			}
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.fail(k.Line, join(path, k.Value), "duplicate key")
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.value(val, elem, join(path, k.Value))
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n.Line, path, "must be a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			d.value(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i))
		}
		v.Set(s)
	case reflect.String:
		// Unquoted numbers and booleans are accepted where a string is
		// expected (PORT: 8080 in env), as people write them.
		if n.Kind != yaml.ScalarNode {
			d.fail(n.Line, path, "must be a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case reflect.Int, reflect.Int32, reflect.Int64:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!int" {
			d.fail(n.Line, path, "must be an integer, got %s", describe(n))
			return
		}
		i, err := strconv.ParseInt(n.Value, 0, v.Type().Bits())
		if err != nil {
			d.fail(n.Line, path, "integer %s out of range", n.Value)
			return
		}
		v.SetInt(i)
	case reflect.Bool:
		if n.Kind != yaml.ScalarNode || n.ShortTag() != "!!bool" {
			d.fail(n.Line, path, "must be true or false, got %s", describe(n))
			return
		}
		var b bool
		if err := n.Decode(&b); err != nil {
			d.fail(n.Line, path, "must be true or false")
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("model: no decoding for %s", v.Type())) // broken invariant: a type in this package
	}
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "must be a mapping, got %s", describe(n))
		return
	}
	fields := fieldsOf(v.Type())
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := resolve(n.Content[i]), n.Content[i+1]
		fp := join(path, k.Value)
		if !d.charge(n.Content[i], k, fp) {
			return
		}
		if seen[k.Value] {
			d.fail(k.Line, fp, "duplicate key")
			continue
		}
		seen[k.Value] = true
		idx, ok := fields[k.Value]
		if !ok {
			if near := suggest(k.Value, fields); near != "" {
				d.fail(k.Line, fp, "unknown field (did you mean %q?)", near)
				// The intended field reads as missing; saying so again would confuse.
				d.broken[join(path, near)] = true
				continue
			}
			d.fail(k.Line, fp, "unknown field")
			continue
		}
		d.value(val, v.FieldByIndex(idx), fp)
	}
}

// lineOf returns the line of a field path ("spec.resources[0].spec.command[2]")
// in the document: a mapping key's line or a list item's. A path that is not
// all present yields the line of its nearest present parent. It costs a walk
// down the path, so it is called only for the problems reported.
func (d *decoder) lineOf(path string) int {
	n := resolve(d.root)
	line := n.Line
	for rest := path; rest != ""; rest = strings.TrimPrefix(rest, ".") {
		switch {
		case rest[0] == '[':
			end := strings.IndexByte(rest, ']')
			if end < 0 || n.Kind != yaml.SequenceNode {
				return line
			}
			i, err := strconv.Atoi(rest[1:end])
			if err != nil || i < 0 || i >= len(n.Content) {
				return line
			}
			n = resolve(n.Content[i])
			line, rest = n.Line, rest[end+1:]
		case n.Kind == yaml.MappingNode:
			// The longest key that starts rest: keys under data and
			// labels may hold dots.
			best := -1
			for i := 0; i+1 < len(n.Content); i += 2 {
				k := resolve(n.Content[i]).Value
				if (best < 0 || len(k) > len(resolve(n.Content[best]).Value)) && startsField(rest, k) {
					best = i
				}
			}
			if best < 0 {
				return line
			}
			k := resolve(n.Content[best])
			n = resolve(n.Content[best+1])
			line, rest = k.Line, rest[len(k.Value):]
		default:
			return line
		}
	}
	return line
}

// startsField reports whether path begins with the field name key, followed
// by nothing, a '.' or a '['.
func startsField(path, key string) bool {
	return key != "" && strings.HasPrefix(path, key) && (len(path) == len(key) || path[len(key)] == '.' || path[len(key)] == '[')
}

// fieldsOf maps JSON names to field indexes, flattening inline structs.
func fieldsOf(t reflect.Type) map[string][]int {
	out := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" || !f.IsExported() {
			continue
		}
		if f.Anonymous && name == "" {
			for k, idx := range fieldsOf(f.Type) {
				out[k] = append([]int{i}, idx...)
			}
			continue
		}
		if name == "" {
			name = f.Name
		}
		out[name] = []int{i}
	}
	return out
}

// suggest returns the known field that differs from name only in case, the
// commonest slip (memoryMb for memoryMB), or "".
func suggest(name string, fields map[string][]int) string {
	for k := range fields {
		if strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

func resolve(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		return resolve(n.Content[0])
	}
	return n
}

func lookup(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if resolve(m.Content[i]).Value == key {
			return resolve(m.Content[i+1])
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.ShortTag() {
	case "!!str":
		return fmt.Sprintf("string %q", n.Value)
	case "!!int", "!!float":
		return "number " + n.Value
	case "!!bool":
		return "boolean " + n.Value
	}
	return n.Value
}

func join(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// syntaxLine extracts the line from a YAML syntax error, whose only structured
// form is its text ("yaml: line 7: ..."). Zero when there is none.
func syntaxLine(err error) int {
	msg := err.Error()
	_, rest, ok := strings.Cut(msg, "line ")
	if !ok {
		return 0
	}
	end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
	if end < 0 {
		end = len(rest)
	}
	line, _ := strconv.Atoi(rest[:end])
	return line
}

func yamlMessage(err error) string {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if _, rest, ok := strings.Cut(msg, ": "); ok && strings.HasPrefix(msg, "line ") {
		msg = rest
	}
	return "invalid YAML: " + msg
}
