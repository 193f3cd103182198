package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/adapters/filedrop"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// cmdReplay decodes recorded inputs with a source's format and mapping and
// prints the events they would produce and the dead letters they would
// write, touching no store: customs IT test a mapping before going live.
func cmdReplay(args []string) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	file := fs.String("config", "/etc/portsync/portsync.yaml", "configuration `file`")
	name := fs.String("source", "", "the source whose format, mapping and binding to use")
	asJSON := fs.Bool("json", false, "print one JSON object a line")
	if fs.Parse(args) != nil {
		return 2
	}
	if *name == "" || fs.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: portsync replay -config FILE -source NAME INPUT... (- for standard input)")
		return 2
	}
	cfg, err := config.Load(*file, adapters.Registry)
	if err != nil {
		printConfigErrors(err)
		return 1
	}
	var sc *config.Source
	for i := range cfg.Sources {
		if cfg.Sources[i].Name == *name {
			sc = &cfg.Sources[i]
		}
	}
	if sc == nil {
		fmt.Fprintf(os.Stderr, "portsync replay: no source %q in %s\n", *name, *file)
		return 1
	}
	src, err := sync.NewSourceInfo(*sc)
	if err != nil {
		return fail("replay", err)
	}
	out := json.NewEncoder(os.Stdout)
	events, dead := 0, 0
	for _, input := range fs.Args() {
		msg, err := readInput(input, sc)
		if err != nil {
			return fail("replay", err)
		}
		for i, r := range sync.Decode(cfg, src, msg) {
			where := fmt.Sprintf("%s record %d", input, i+1)
			if r.Position != "" {
				where = input + " " + r.Position
			}
			if r.Err != nil {
				dead++
				rej := state.AsRejection(r.Err)
				if *asJSON {
					out.Encode(map[string]string{"input": where, "deadletter": rej.Code, "reason": rej.Reason})
				} else {
					fmt.Printf("DEAD LETTER %s: %s: %s\n", where, rej.Code, rej.Reason)
				}
				continue
			}
			events++
			var ev any = r.Agency
			if r.TOS != nil {
				ev = r.TOS
			}
			if *asJSON {
				out.Encode(map[string]any{"input": where, "event": ev})
			} else {
				data, _ := json.Marshal(ev)
				fmt.Printf("EVENT %s: %s\n", where, data)
			}
		}
	}
	if !*asJSON {
		fmt.Printf("%d events, %d dead letters\n", events, dead)
	}
	if dead > 0 {
		return 1
	}
	return 0
}

// readInput reads a recorded message as a source would get it, cut at the
// same size limit. A file for a file_drop source is read as that source
// reads it: up to its max_bytes, through a Body when it is larger than
// adapters.MaxPayload (so the decoder streams it).
func readInput(name string, sc *config.Source) (adapters.Message, error) {
	if sc.Type == filedrop.Type && name != "-" {
		c, err := filedrop.ConfigOf(*sc)
		if err != nil {
			return adapters.Message{}, err
		}
		limit := int64(c.MaxBytes)
		if limit <= 0 {
			limit = filedrop.DefaultMaxBytes
		}
		info, err := os.Stat(name)
		if err != nil {
			return adapters.Message{}, err
		}
		if size := info.Size(); size > adapters.MaxPayload || size > limit {
			f, err := os.Open(name)
			if err != nil {
				return adapters.Message{}, err
			}
			head, err := io.ReadAll(io.LimitReader(f, adapters.MaxKept))
			f.Close()
			if err != nil {
				return adapters.Message{}, fmt.Errorf("%s: %w", name, err)
			}
			if size > limit {
				return adapters.Message{Payload: head, Reject: &state.Rejection{Code: state.CodeTooLarge,
					Reason: fmt.Sprintf("file %q is %d bytes, larger than this source's max_bytes %d", name, size, limit)}}, nil
			}
			return adapters.Message{Payload: head, Body: func() (io.ReadCloser, error) { return os.Open(name) }}, nil
		}
	}
	r := io.Reader(os.Stdin)
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return adapters.Message{}, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, adapters.MaxPayload+1))
	if err != nil {
		return adapters.Message{}, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > adapters.MaxPayload {
		return adapters.Message{Payload: data[:1024], TooLarge: true}, nil
	}
	return adapters.Message{Payload: data}, nil
}
