package config

import (
	"fmt"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder fills a struct from a YAML node tree strictly: unknown keys and
// wrong types are errors, and it collects every error rather than stopping
// at the first, each with the line and the dotted key, so that `portsync
// check` can list every problem of a file at once.
type decoder struct {
	errs  []Error
	lines map[string]int // key path -> line, for later validation errors
}

var durationType = reflect.TypeOf(time.Duration(0))

func (d *decoder) fail(n *yaml.Node, path, format string, args ...any) {
	d.errs = append(d.errs, Error{Line: n.Line, Key: path, Msg: fmt.Sprintf(format, args...)})
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return
		}
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return // an empty value leaves the default
	}
	if v.Kind() == reflect.Pointer {
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		v = v.Elem()
	}
	switch {
	case v.Type() == durationType:
		dur, err := time.ParseDuration(n.Value)
		if n.Kind != yaml.ScalarNode || err != nil {
			d.fail(n, path, "want a duration such as 30s, 2m or 1h, got %s", describe(n))
			return
		}
		if dur < 0 {
			d.fail(n, path, "duration must not be negative, got %s", n.Value)
			return
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.Struct:
		d.decodeStruct(n, v, path)
	case v.Kind() == reflect.Map:
		if n.Kind != yaml.MappingNode {
			d.fail(n, path, "want a mapping, got %s", describe(n))
			return
		}
		if v.IsNil() {
			v.Set(reflect.MakeMap(v.Type()))
		}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			p := join(path, k.Value)
			d.lines[p] = k.Line
			if v.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				d.fail(k, p, "duplicate key")
				continue
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			d.decode(val, elem, p)
			v.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
	case v.Kind() == reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			d.fail(n, path, "want a list, got %s", describe(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			d.lines[p] = item.Line
			d.decode(item, s.Index(i), p)
		}
		v.Set(s)
	case v.Kind() == reflect.String:
		if n.Kind != yaml.ScalarNode || n.Tag == "!!bool" {
			d.fail(n, path, "want a string, got %s", describe(n))
			return
		}
		v.SetString(n.Value)
	case v.Kind() == reflect.Int:
		i, err := strconv.Atoi(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!int" || err != nil {
			d.fail(n, path, "want an integer, got %s", describe(n))
			return
		}
		v.SetInt(int64(i))
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(n.Value)
		if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" || err != nil {
			d.fail(n, path, "want true or false, got %s", describe(n))
			return
		}
		v.SetBool(b)
	default:
		panic(fmt.Sprintf("config: field type %s not supported by the decoder", v.Type()))
	}
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, path string) {
	if n.Kind != yaml.MappingNode {
		d.fail(n, path, "want a mapping, got %s", describe(n))
		return
	}
	fields := structFields(v.Type())
	rest := -1 // a Keys field takes the keys the struct has no field for
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if t.Field(i).Type == keysType {
			rest = i
		}
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := join(path, k.Value)
		idx, ok := fields[k.Value]
		switch {
		case !ok && rest >= 0:
			if slices.Contains(v.Field(rest).Interface().(Keys).Names(), k.Value) {
				d.fail(k, p, "duplicate key")
				continue
			}
			d.lines[p] = k.Line
			d.recordLines(val, p)
			v.Field(rest).Addr().Interface().(*Keys).add(k, val)
		case !ok:
			d.fail(k, p, "unknown key (known keys here: %s)", knownKeys(fields))
		case seen[k.Value]:
			d.fail(k, p, "duplicate key")
		default:
			seen[k.Value] = true
			d.lines[p] = k.Line
			f := v.FieldByIndex(idx)
			d.decode(val, f, p)
			// Secret and certificate paths may name environment variables,
			// such as systemd's ${CREDENTIALS_DIRECTORY}.
			if strings.HasSuffix(k.Value, "_file") && f.Kind() == reflect.String {
				f.SetString(os.ExpandEnv(f.String()))
			}
		}
	}
}

// structFields maps the keys of a struct with yaml tags to their fields,
// with the keys of its inline structs (yaml:",inline") as its own: an
// adapter's struct embeds the keys it shares with others that way.
func structFields(t reflect.Type) map[string][]int {
	fields := map[string][]int{}
	for i := 0; i < t.NumField(); i++ {
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		switch {
		case opts == "inline" && t.Field(i).Type.Kind() == reflect.Struct:
			for key, idx := range structFields(t.Field(i).Type) {
				fields[key] = append([]int{i}, idx...)
			}
		case name != "" && name != "-":
			fields[name] = []int{i}
		}
	}
	return fields
}

func knownKeys(fields map[string][]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sortStrings(names)
	return strings.Join(names, ", ")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch n.Tag {
	case "!!bool":
		return "boolean " + n.Value
	case "!!int", "!!float":
		return "number " + n.Value
	}
	return strconv.Quote(n.Value)
}
