// Package buildinfo says which portsync this is: its version, the commit it
// was built from and the Go that built it, for `portsync version` and the
// portsync_build_info metric.
//
// The facts come from the binary itself (runtime/debug.ReadBuildInfo): the
// module version when built with `go install ...@VERSION`, and the commit
// (vcs.revision, vcs.modified) that `go build` stamps in a git checkout.
// Builds that cannot stamp them (a tarball, -buildvcs=false) get them from
// the linker instead, as the Makefile does:
//
//	go build -ldflags "-X github.com/portsync/portsync/internal/buildinfo.version=1.2.0 \
//	    -X github.com/portsync/portsync/internal/buildinfo.revision=$(git rev-parse HEAD)" ./cmd/portsync
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set with -ldflags -X; empty unless the build set them.
var (
	// version is the release, e.g. 1.2.0 or 1.2.0~git20261128.6a0d356.
	version string
	// revision is the commit, with "-dirty" appended when the tree had
	// changes (git describe's convention).
	revision string
)

// Info is what the binary knows of its own build.
type Info struct {
	// Version is the release: the linker's version, else the module's
	// (go install ...@v1.2.0), else "devel" for a build from a checkout.
	Version string `json:"version"`
	// Revision is the commit it was built from, "unknown" when the build
	// recorded none.
	Revision string `json:"revision"`
	// Modified is true when the working tree had uncommitted changes.
	Modified bool `json:"modified"`
	// GoVersion is the Go toolchain that built it, e.g. go1.26.8.
	GoVersion string `json:"goversion"`
	// Platform is GOOS/GOARCH.
	Platform string `json:"platform"`
}

// Read returns the running binary's build information.
func Read() Info {
	bi, _ := debug.ReadBuildInfo()
	return fromBuildInfo(bi, version, revision)
}

// fromBuildInfo combines what the Go toolchain recorded (bi may be nil)
// with what the linker was told.
func fromBuildInfo(bi *debug.BuildInfo, ldVersion, ldRevision string) Info {
	info := Info{Version: ldVersion, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	var vcsRevision, vcsModified string
	if bi != nil {
		if bi.GoVersion != "" {
			info.GoVersion = bi.GoVersion
		}
		if info.Version == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			info.Version = bi.Main.Version
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				vcsRevision = s.Value
			case "vcs.modified":
				vcsModified = s.Value
			}
		}
	}
	if info.Version == "" {
		info.Version = "devel"
	}
	switch {
	case vcsRevision != "":
		// The toolchain's own record is authoritative.
		info.Revision, info.Modified = vcsRevision, vcsModified == "true"
	case ldRevision != "":
		info.Revision, info.Modified = strings.CutSuffix(ldRevision, "-dirty")
	default:
		info.Revision = "unknown"
	}
	return info
}

// String is the answer of `portsync version`, after Prometheus's:
//
//	portsync, version 1.2.0 (revision: 6a0d356..., modified: false)
//	  go version: go1.26.8
//	  platform:   linux/amd64
func (i Info) String() string {
	return fmt.Sprintf("portsync, version %s (revision: %s, modified: %t)\n  go version: %s\n  platform:   %s\n",
		i.Version, i.Revision, i.Modified, i.GoVersion, i.Platform)
}

// Labels are the labels of the portsync_build_info gauge: version,
// revision (with "-dirty" when modified) and goversion.
func (i Info) Labels() map[string]string {
	rev := i.Revision
	if i.Modified {
		rev += "-dirty"
	}
	return map[string]string{"version": i.Version, "revision": rev, "goversion": i.GoVersion}
}
