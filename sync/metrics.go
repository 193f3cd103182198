package sync

import (
	"encoding/hex"

	"github.com/portsync/portsync/internal/buildinfo"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/sony/gobreaker/v2"

	"github.com/portsync/portsync/config"
)

// Metrics are the daemon's Prometheus metrics (DESIGN section 7), on a
// registry of their own so that tests and the demo can run several daemons
// in one process.
type Metrics struct {
	Registry       *prometheus.Registry
	Events         *prometheus.CounterVec
	Commands       *prometheus.CounterVec
	Mismatches     prometheus.Gauge
	MismatchAge    prometheus.Histogram
	ReleaseToTOS   prometheus.Histogram
	Commit         prometheus.Histogram
	BatchSize      prometheus.Histogram
	Breaker        *prometheus.GaugeVec
	DeadLetters    *prometheus.CounterVec
	Containers     *prometheus.GaugeVec
	AlertsFiring   prometheus.Gauge
	Notifications  *prometheus.CounterVec
	StoreHealthy   prometheus.Gauge
	OutboxCommands prometheus.Gauge
	AcksPending    prometheus.Gauge
	SourceFailures *prometheus.CounterVec
	ConfigHash     prometheus.Gauge
	ReloadOK       prometheus.Gauge
	ReloadTime     prometheus.Gauge
	Pruned         *prometheus.CounterVec
}

// NewMetrics registers every metric on a new registry.
func NewMetrics() *Metrics {
	latency := []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600}
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		Events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portsync_events_total",
			Help: "Inbound events by source and result: applied, duplicate, stale (changed nothing) or rejected (dead-lettered).",
		}, []string{"source", "result"}),
		Commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portsync_commands_total",
			Help: "TOS commands by sink, action and result: sent (accepted by the transport), failed, confirmed (by a TOS event).",
		}, []string{"sink", "action", "result"}),
		Mismatches: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_mismatches",
			Help: "Open mismatches: (container, agency) pairs in the yard whose TOS hold differs from the desired hold.",
		}),
		MismatchAge: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portsync_mismatch_age_seconds",
			Help:    "Age of mismatches when they were resolved.",
			Buckets: latency,
		}),
		ReleaseToTOS: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portsync_release_to_tos_seconds",
			Help:    "Time from an agency release received to the TOS confirming the hold is gone.",
			Buckets: latency,
		}),
		Commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portsync_commit_seconds",
			Help:    "Duration of one group commit to the store, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		BatchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "portsync_commit_batch_messages",
			Help:    "Inbound messages applied per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 13),
		}),
		Breaker: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portsync_breaker_state",
			Help: "Circuit breaker state of each sink, channel and polling source: 0 closed, 1 half-open, 2 open.",
		}, []string{"name"}),
		DeadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portsync_deadletters_total",
			Help: "Inbound messages dead-lettered, by source and reason code.",
		}, []string{"source", "reason"}),
		Containers: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portsync_containers",
			Help: "Tracked containers by presence.",
		}, []string{"presence"}),
		AlertsFiring: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_alerts_firing",
			Help: "Alerts now firing.",
		}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portsync_notifications_total",
			Help: "Alert notices by channel and result: sent or failed.",
		}, []string{"channel", "result"}),
		StoreHealthy: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_store_healthy",
			Help: "1 while the last store commit succeeded, 0 while commits fail (nothing is acknowledged then).",
		}),
		OutboxCommands: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_outbox_commands",
			Help: "Commands waiting in the outbox for TOS confirmation.",
		}),
		AcksPending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_acks_pending",
			Help: "Processing acknowledgements waiting in the store to be delivered to their sender (ack_topic, ack_dir).",
		}),
		SourceFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portsync_source_failures_total",
			Help: "Failures of a source's own transport (a poll that failed, timed out, was malformed or skipped by an open breaker), by source and reason.",
		}, []string{"source", "reason"}),
		ConfigHash: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_config_hash",
			Help: "Hash of the configuration file in force (its SHA-256's first 48 bits), to spot hosts that run different files.",
		}),
		ReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_config_last_reload_successful",
			Help: "1 if the last configuration load or reload succeeded, 0 if it was refused.",
		}),
		ReloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "portsync_config_last_reload_success_timestamp_seconds",
			Help: "When the configuration in force was loaded.",
		}),
		Pruned: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portsync_retention_pruned_total",
			Help: "Journal entries, dedupe keys and dead letters deleted by the retention job because they were older than retention.journal.",
		}, []string{"what"}),
	}
	// Every series of a labelled counter whose values are known exists
	// from the start, at 0, for rate() and alerts.
	for _, what := range []string{prunedJournal, prunedDedupe, prunedDeadLetters} {
		m.Pruned.WithLabelValues(what)
	}
	m.Registry.MustRegister(m.Events, m.Commands, m.Mismatches, m.MismatchAge, m.ReleaseToTOS,
		m.Commit, m.BatchSize, m.Breaker, m.DeadLetters, m.Containers, m.AlertsFiring,
		m.Notifications, m.StoreHealthy, m.OutboxCommands, m.AcksPending, m.SourceFailures, m.ConfigHash, m.ReloadOK, m.ReloadTime, m.Pruned,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "portsync_build_info",
		Help:        "Always 1; its labels say which portsync runs: version, revision (commit, -dirty if modified) and goversion.",
		ConstLabels: buildinfo.Read().Labels(),
	}, func() float64 { return 1 }))
	return m
}

// SetConfig records a (re)load: the hash and time of cfg when ok, or a
// refused reload (cfg nil) that leaves the configuration in force.
func (m *Metrics) SetConfig(cfg *config.Config, ok bool) {
	if !ok {
		m.ReloadOK.Set(0)
		return
	}
	m.ReloadOK.Set(1)
	m.ReloadTime.SetToCurrentTime()
	if sum, err := hex.DecodeString(cfg.Hash); err == nil && len(sum) >= 6 {
		m.ConfigHash.Set(float64(uint64(sum[0])<<40 | uint64(sum[1])<<32 | uint64(sum[2])<<24 | uint64(sum[3])<<16 | uint64(sum[4])<<8 | uint64(sum[5])))
	}
}

// SetBreaker sets portsync_breaker_state of name.
func (m *Metrics) SetBreaker(name string, to gobreaker.State) {
	m.Breaker.WithLabelValues(name).Set(breakerState(to))
}

// breakerState maps gobreaker states to the gauge values of DESIGN 7.
func breakerState(s gobreaker.State) float64 {
	switch s {
	case gobreaker.StateHalfOpen:
		return 1
	case gobreaker.StateOpen:
		return 2
	}
	return 0
}
