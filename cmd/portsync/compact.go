package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/portsync/portsync/adapters"
	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
)

// compactLockTimeout is how long compact waits for the store's lock.
const compactLockTimeout = time.Second

func cmdCompact(args []string) int { return compact(args, os.Stdout, os.Stderr) }

// compact is `portsync compact`: it rewrites the store of a stopped daemon
// without its free pages.
func compact(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.String("config", "/etc/portsync/portsync.yaml", "configuration `file`; the store is state_dir/"+state.FileName)
	store := fs.String("store", "", "compact this store `file` instead (e.g. a backup); -config is then not read")
	if fs.Parse(args) != nil {
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintln(stderr, "usage: portsync compact [-config FILE | -store FILE]")
		return 2
	}
	path := *store
	if path == "" {
		cfg, err := config.Load(*file, adapters.Registry)
		if err != nil {
			var errs config.Errors
			if errors.As(err, &errs) {
				for _, e := range errs {
					fmt.Fprintln(stderr, e.Error())
				}
			} else {
				fmt.Fprintln(stderr, err)
			}
			return 1
		}
		path = filepath.Join(cfg.StateDir, state.FileName)
	}
	start := time.Now()
	res, err := state.Compact(path, compactLockTimeout)
	switch {
	case errors.Is(err, state.ErrLocked):
		fmt.Fprintf(stderr, "portsync compact: %s is in use by a running portsync (or another process); "+
			"stop it first (systemctl stop portsync), compact, then start it again\n", path)
		return 1
	case errors.Is(err, os.ErrNotExist):
		fmt.Fprintf(stderr, "portsync compact: no store at %s\n", path)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "portsync compact: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "compacted %s: %s -> %s in %s\n", path, byteSize(res.Before), byteSize(res.After),
		time.Since(start).Round(time.Millisecond))
	return 0
}

// byteSize formats n bytes for people.
func byteSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
