package httpapi

import (
	"crypto/subtle"
	"errors"
	"maps"
	"net/http"
	"slices"
)

// ErrNoCluster is the answer of ClusterNodes on a single node.
var ErrNoCluster = errors.New("not a cluster: the configuration has no cluster block")

// ClusterNode is one node in GET /api/v1/cluster.
type ClusterNode struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	// Role is leader, follower or candidate; for a node that did not
	// answer (Reachable false), what the asking node knows of it.
	Role         string `json:"role"`
	AppliedIndex uint64 `json:"applied_index"`
	CommitIndex  uint64 `json:"commit_index"`
	Term         uint64 `json:"term"`
	// Leader is the id of the node that this node knows to lead, as
	// each node answers for itself.
	Leader string `json:"leader,omitempty"`
	// Lag is how many entries the leader has committed that the node has
	// not applied; null when unknown (no leader, or the node is silent).
	Lag       *int64 `json:"lag"`
	Reachable bool   `json:"reachable"`
	Error     string `json:"error,omitempty"`
}

func (s *Server) handleCluster(w http.ResponseWriter, r *http.Request) {
	nodes, err := s.Backend.ClusterNodes(r.Context(), r.URL.Query().Get("self") == "1")
	if errors.Is(err, ErrNoCluster) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		writeError(w, http.StatusInternalServerError, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"nodes": nodes})
}

// toLeader sends every write to the cluster's leader: a follower answers
// a request other than GET or HEAD with 307 (the method and body are
// kept) to the same path on the leader's API, or 503 while there is no
// leader. Only the leader's writer may commit.
func (s *Server) toLeader(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		// Where the API has a token, a request without a token this
		// node knows is refused here (401), not redirected: the leader's
		// address is not for strangers. Without an API token every write
		// goes to the leader.
		if cur := s.Backend.Current(); cur.Token != "" && !knownToken(cur, r.Header.Get("Authorization")) {
			next.ServeHTTP(w, r)
			return
		}
		leader, follower := s.Backend.LeaderURL()
		switch {
		case !follower:
			next.ServeHTTP(w, r)
		case leader == "":
			writeError(w, http.StatusServiceUnavailable, "no leader is ready to take writes (an election or a takeover is under way); try again shortly")
		default:
			http.Redirect(w, r, leader+r.URL.RequestURI(), http.StatusTemporaryRedirect)
		}
	})
}

// knownToken reports whether auth is the bearer of a token cur knows: the
// API's, the override's or a push source's.
func knownToken(cur Current, auth string) bool {
	known := false
	for _, tok := range append([]string{cur.Token, cur.OverrideToken}, slices.Collect(maps.Keys(cur.PushTokens))...) {
		if tok != "" && subtle.ConstantTimeCompare([]byte(auth), []byte("Bearer "+tok)) == 1 {
			known = true
		}
	}
	return known
}
