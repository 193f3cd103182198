package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/portsync/portsync/config"
)

// scheduleRetention installs the retention job on sched at
// cfg.Schedules.Retention, replacing the job prev (0 for none), and returns
// the new job's id; the job runs with ctx. Call it wherever the sweep is
// scheduled (Run and Reload). The job reads retention.journal from the
// configuration in force when it runs.
func (d *Daemon) scheduleRetention(ctx context.Context, sched *cron.Cron, cfg *config.Config, prev cron.EntryID) (cron.EntryID, error) {
	id, err := sched.AddFunc(cfg.Schedules.Retention, func() { d.retention(ctx) })
	if err != nil {
		return prev, fmt.Errorf("schedules.retention: %w", err)
	}
	if prev != 0 {
		sched.Remove(prev)
	}
	return id, nil
}

// retention deletes the journal entries, dedupe keys and dead letters older
// than retention.journal, in chunks through the writer, and logs what it
// did.
func (d *Daemon) retention(ctx context.Context) {
	keep := d.current().cfg.Retention.Journal
	if keep <= 0 {
		return
	}
	start := time.Now()
	before := start.Add(-keep)
	r, err := d.engine().Prune(ctx, before, 0)
	attrs := []any{"journal", r.Journal, "dedupe", r.Dedupe, "deadletters", r.DeadLetters, "chunks", r.Chunks,
		"before", before.UTC().Format(time.RFC3339), "seconds", time.Since(start).Seconds()}
	if err != nil {
		d.log.Error("retention failed", append(attrs, "err", err)...)
		return
	}
	d.log.Info("retention done", attrs...)
}
