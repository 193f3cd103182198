package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Keys are the keys of a configuration element that its common struct
// (Source) does not know, with their YAML nodes and lines: the keys of the
// element's type, which the adapter registered for the type decodes into
// its own struct with Decode, as strictly as the rest of the file, and the
// registry reports those no adapter of the type reads. The zero value
// holds no key.
type Keys struct {
	pairs []*yaml.Node // key, value, key, value ...
}

var keysType = reflect.TypeOf(Keys{})

func (k *Keys) add(key, val *yaml.Node) { k.pairs = append(k.pairs, key, val) }

// recordLines records the lines of the keys and items inside n, at path,
// so that an adapter's KeyError about any of them has its line.
func (d *decoder) recordLines(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			p := join(path, n.Content[i].Value)
			d.lines[p] = n.Content[i].Line
			d.recordLines(n.Content[i+1], p)
		}
	case yaml.SequenceNode:
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = item.Line
			d.recordLines(item, p)
		}
	}
}

// Names returns the keys in file order.
func (k Keys) Names() []string {
	names := make([]string, 0, len(k.pairs)/2)
	for i := 0; i+1 < len(k.pairs); i += 2 {
		names = append(names, k.pairs[i].Value)
	}
	return names
}

// Line returns the line of a key, 0 if k does not hold it.
func (k Keys) Line(key string) int {
	for i := 0; i+1 < len(k.pairs); i += 2 {
		if k.pairs[i].Value == key {
			return k.pairs[i].Line
		}
	}
	return 0
}

// Decode fills into, a pointer to a struct with yaml tags, from the keys
// it has a field for, with the strict decoder of the file: a value of the
// wrong type is a KeyError with its key, relative to the element (such as
// "headers.X-Token"), whose line Parse recorded. Keys into has no field
// for are left for the caller.
func (k Keys) Decode(into any) []KeyError {
	v := reflect.ValueOf(into)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		panic(fmt.Sprintf("config: Keys.Decode wants a pointer to a struct, got %T", into))
	}
	fields := KeyNames(into)
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(k.pairs); i += 2 {
		if slices.Contains(fields, k.pairs[i].Value) {
			n.Content = append(n.Content, k.pairs[i], k.pairs[i+1])
		}
	}
	d := &decoder{lines: map[string]int{}}
	d.decode(n, v.Elem(), "")
	errs := make([]KeyError, len(d.errs))
	for i, e := range d.errs {
		errs[i] = KeyError{Key: e.Key, Msg: e.Msg}
	}
	return errs
}

// KeyNames returns the keys a configuration struct (or a pointer to one)
// decodes, sorted.
func KeyNames(v any) []string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return slices.Sorted(maps.Keys(structFields(t)))
}

// Scalar returns the value of a key that holds a string, number or word,
// "" if k does not hold it or it holds something else (a list, a
// mapping, a boolean, null): a key read before its adapter decodes it,
// such as a channel's target for its derived name.
func (k Keys) Scalar(key string) string { return scalar(k.node(key)) }

// First returns the first item of a key that holds a list, as Scalar
// returns a value.
func (k Keys) First(key string) string {
	n := k.node(key)
	if n == nil || n.Kind != yaml.SequenceNode || len(n.Content) == 0 {
		return ""
	}
	return scalar(n.Content[0])
}

func scalar(n *yaml.Node) string {
	if n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag == "!!bool" || n.Tag == "!!null" {
		return ""
	}
	return n.Value
}

// node returns the value of key, nil if k does not hold it.
func (k Keys) node(key string) *yaml.Node {
	for i := 0; i+1 < len(k.pairs); i += 2 {
		if k.pairs[i].Value == key {
			return k.pairs[i+1]
		}
	}
	return nil
}

// UnknownKey is the message of a key nothing decodes, known being the
// keys that may be there.
func UnknownKey(known []string) string {
	return "unknown key (known keys here: " + strings.Join(known, ", ") + ")"
}

// NewKeys returns Keys holding the non-zero fields of v, a struct with
// yaml tags, as a file would spell them: for tests and for elements built
// in code. It knows strings, integers, booleans, durations, lists, maps,
// structs and inline structs (yaml:",inline").
func NewKeys(v any) Keys {
	rv := reflect.ValueOf(v)
	if rv.Kind() == reflect.Pointer {
		rv = rv.Elem()
	}
	var k Keys
	t := rv.Type()
	for i := 0; i < t.NumField(); i++ {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		f := rv.Field(i)
		if opts == "inline" && !f.IsZero() {
			k.pairs = append(k.pairs, NewKeys(f.Interface()).pairs...)
			continue
		}
		if name == "" || name == "-" || f.IsZero() {
			continue
		}
		k.add(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: name}, valueNode(f))
	}
	return k
}

func valueNode(f reflect.Value) *yaml.Node {
	scalar := func(tag, value string) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
	}
	switch {
	case f.Type() == durationType:
		return scalar("!!str", time.Duration(f.Int()).String())
	case f.Kind() == reflect.Pointer:
		return valueNode(f.Elem())
	case f.Kind() == reflect.String:
		return scalar("!!str", f.String())
	case f.Kind() == reflect.Int:
		return scalar("!!int", strconv.FormatInt(f.Int(), 10))
	case f.Kind() == reflect.Bool:
		return scalar("!!bool", strconv.FormatBool(f.Bool()))
	case f.Kind() == reflect.Slice:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i := 0; i < f.Len(); i++ {
			n.Content = append(n.Content, valueNode(f.Index(i)))
		}
		return n
	case f.Kind() == reflect.Map:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := f.MapKeys()
		slices.SortFunc(keys, func(a, b reflect.Value) int { return strings.Compare(a.String(), b.String()) })
		for _, key := range keys {
			n.Content = append(n.Content, scalar("!!str", key.String()), valueNode(f.MapIndex(key)))
		}
		return n
	case f.Kind() == reflect.Struct:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		k := NewKeys(f.Interface())
		n.Content = k.pairs
		return n
	}
	panic(fmt.Sprintf("config: NewKeys: field type %s not supported", f.Type()))
}
