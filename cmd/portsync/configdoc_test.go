package main

import (
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
)

// configKeys lists every key the configuration file accepts, as dotted
// paths the way docs/configuration.md writes them: sources[].mapping.id for
// a key inside a list's items, agencies.NAME.tos_hold for one inside a
// map's values. Blocks are listed as well as their keys.
func configKeys() []string {
	var keys []string
	var walk func(t reflect.Type, prefix string)
	walk = func(t reflect.Type, prefix string) {
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t.Kind() != reflect.Struct {
			return
		}
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if opts == "inline" {
				walk(f.Type, prefix) // its keys are the struct's own
				continue
			}
			if !f.IsExported() || name == "" || name == "-" {
				continue
			}
			path := name
			if prefix != "" {
				path = prefix + "." + name
			}
			keys = append(keys, path)
			ft := f.Type
			for ft.Kind() == reflect.Pointer {
				ft = ft.Elem()
			}
			switch ft.Kind() {
			case reflect.Struct:
				if ft.PkgPath() != "time" { // not time.Duration and the like
					walk(ft, path)
				}
			case reflect.Slice:
				walk(ft.Elem(), path+"[]")
			case reflect.Map:
				walk(ft.Elem(), path+".NAME")
			}
		}
	}
	walk(reflect.TypeOf(config.Config{}), "")
	// The keys of the adapters that decode their own.
	for place, confs := range adapters.Configs() {
		for _, c := range confs {
			walk(reflect.TypeOf(c), place)
		}
	}
	slices.Sort(keys)
	keys = slices.Compact(keys)
	return keys
}

// TestConfigurationDocNamesEveryKey keeps docs/configuration.md whole: it
// must name every key of the configuration structs (found by reflection
// over their yaml tags, recursively) as `path`, and every key its reference
// tables name must exist, unless the row says the key is planned. Adding a
// key to the config without documenting it fails here.
func TestConfigurationDocNamesEveryKey(t *testing.T) {
	data, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	keys := configKeys()
	if len(keys) < 80 {
		t.Fatalf("found only %d keys by reflection; the walk is broken: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !strings.Contains(doc, "`"+k+"`") {
			t.Errorf("docs/configuration.md does not name the key `%s`: add it to the reference with its type, default and an example", k)
		}
	}

	// The other way round: a table row that documents a key (its first
	// cell is a key path in backticks) documents one that exists.
	row := regexp.MustCompile("(?m)^\\| `([a-z_]+(?:\\.NAME|\\[\\]|\\.[a-z_]+)*)` \\|(.*)$")
	top := map[string]bool{}
	for _, k := range keys {
		top[strings.FieldsFunc(k, func(r rune) bool { return r == '.' || r == '[' })[0]] = true
	}
	documented := 0
	for _, m := range row.FindAllStringSubmatch(doc, -1) {
		key, rest := m[1], m[2]
		first := strings.FieldsFunc(key, func(r rune) bool { return r == '.' || r == '[' })[0]
		if !top[first] && !strings.Contains(rest, "planned") {
			continue // a table of values, not of keys
		}
		documented++
		if !slices.Contains(keys, key) && !strings.Contains(rest, "planned") {
			t.Errorf("docs/configuration.md documents `%s`, which is no configuration key (mark it planned, or remove it)", key)
		}
	}
	if documented < len(keys)/2 {
		t.Errorf("only %d key rows found in docs/configuration.md's tables; want a row per key", documented)
	}
}
