package httpapi

import (
	"context"
	"log/slog"
	"time"

	"github.com/portsync/portsync/config"
	"github.com/portsync/portsync/state"
	"github.com/portsync/portsync/sync"
)

// Backend is what the API needs of the daemon beyond the engine and the
// store: the configuration and adapters in force (a reload swaps them),
// readiness, the listener's address and the full sweep. The daemon
// implements it; httpapi does not import the daemon.
type Backend interface {
	Current() Current
	Ready() (bool, []string)
	Addr() string
	Endpoints() []sync.EndpointStatus
	Sweep(ctx context.Context) (SweepResult, error)
	// LeaderURL is the leader's API on a cluster's follower, "" while no
	// leader is known; follower is false on the leader and a single node.
	LeaderURL() (url string, follower bool)
	// ClusterNodes lists the cluster's nodes (only this one with self),
	// or ErrNoCluster.
	ClusterNodes(ctx context.Context, self bool) ([]ClusterNode, error)
}

// Current is the part of the configuration in force the API answers
// from.
type Current struct {
	Config *config.Config
	// Token is the API token, "" when none is configured.
	Token string
	// OverrideToken is the token manual overrides need
	// (http.override_token_file), "" when they are off.
	OverrideToken string
	// Sources are the configured sources by name.
	Sources map[string]*sync.SourceInfo
	// PushTokens maps the token of each http_push source that has one to
	// the source's name.
	PushTokens map[string]string
}

// SweepResult is what a full sweep did: the TOS snapshot's repairs (nil
// without tos.snapshot) or why it failed, and the containers swept.
type SweepResult struct {
	Snapshot    *sync.SnapshotResult
	SnapshotErr error
	Containers  int
}

// Server serves the API. Every field is required.
type Server struct {
	Backend Backend
	Store   *state.Store
	Engine  func() *sync.Engine // the engine in force: a cluster builds one per leadership
	Metrics *sync.Metrics
	Log     *slog.Logger
	// BodyTimeout bounds the arrival of each request body (tests shorten
	// it).
	BodyTimeout time.Duration
}

// BodyTimeout is how long a request's body may take to arrive after its
// headers: a gateway's event is small, and a client that trickles it must
// not hold a connection for the whole ReadTimeout.
const BodyTimeout = 20 * time.Second
