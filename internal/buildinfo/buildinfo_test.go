package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/portsync/portsync", Version: "v1.2.0"},
		Settings: []debug.BuildSetting{
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "6a0d356aaaabbbbccccddddeeeeffff000011112"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	checkout := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}}
	for _, tc := range []struct {
		name       string
		bi         *debug.BuildInfo
		ldVer      string
		ldRev      string
		want       Info
		wantLabels map[string]string
	}{
		{
			name: "go install at a version, in a git checkout",
			bi:   stamped,
			want: Info{Version: "v1.2.0", Revision: "6a0d356aaaabbbbccccddddeeeeffff000011112", Modified: true, GoVersion: "go1.26.8"},
			wantLabels: map[string]string{"version": "v1.2.0", "revision": "6a0d356aaaabbbbccccddddeeeeffff000011112-dirty",
				"goversion": "go1.26.8"},
		},
		{
			name: "the linker's version wins over the module's; the toolchain's revision over the linker's",
			bi:   stamped, ldVer: "1.2.0", ldRev: "ffff",
			want: Info{Version: "1.2.0", Revision: "6a0d356aaaabbbbccccddddeeeeffff000011112", Modified: true, GoVersion: "go1.26.8"},
		},
		{
			name: "a checkout built with -buildvcs=false and the Makefile's ldflags",
			bi:   checkout, ldVer: "0.0~git20261128.6a0d356", ldRev: "6a0d356-dirty",
			want: Info{Version: "0.0~git20261128.6a0d356", Revision: "6a0d356", Modified: true, GoVersion: "go1.26.8"},
		},
		{
			name:       "a bare go build from a checkout",
			bi:         checkout,
			want:       Info{Version: "devel", Revision: "unknown", GoVersion: "go1.26.8"},
			wantLabels: map[string]string{"version": "devel", "revision": "unknown", "goversion": "go1.26.8"},
		},
		{
			name: "no build information at all",
			want: Info{Version: "devel", Revision: "unknown", GoVersion: runtime.Version()},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fromBuildInfo(tc.bi, tc.ldVer, tc.ldRev)
			tc.want.Platform = runtime.GOOS + "/" + runtime.GOARCH
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			if tc.wantLabels != nil {
				labels := got.Labels()
				for k, v := range tc.wantLabels {
					if labels[k] != v {
						t.Errorf("label %s = %q, want %q", k, labels[k], v)
					}
				}
				if len(labels) != 3 {
					t.Errorf("labels %v, want exactly version, revision, goversion", labels)
				}
			}
		})
	}
}

func TestString(t *testing.T) {
	i := Info{Version: "1.2.0", Revision: "abc", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	want := "portsync, version 1.2.0 (revision: abc, modified: false)\n  go version: go1.26.8\n  platform:   linux/amd64\n"
	if got := i.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestReadInTest(t *testing.T) {
	i := Read()
	if i.GoVersion == "" || !strings.HasPrefix(i.GoVersion, "go") || i.Version == "" || i.Revision == "" {
		t.Errorf("Read() = %+v: every field should be filled", i)
	}
}
