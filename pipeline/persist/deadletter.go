package persist

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// Dead letters carry the reason and where the event came from.
const (
	HeaderDeadReason  = "Telemetry-Dead-Reason"
	HeaderDeadSubject = "Telemetry-Dead-Subject"
	HeaderDeadSeq     = "Telemetry-Dead-Seq"
	// HeaderDeadStored names the table holding the event's rows when ClickHouse
	// stored them and failed afterwards (a materialized view threw): the dead letter
	// then records a projection that may lack the views' rows, not lost rows.
	HeaderDeadStored = "Telemetry-Dead-Stored"
	// HeaderDeadOrigPrefix precedes the original name of every NATS header of the
	// event, which the copy keeps only under the new name (see deadLetterMsg).
	HeaderDeadOrigPrefix = "Telemetry-Dead-Orig-"
)

// Outcomes of a dead-letter copy the dead-letter stream did not take (the label of
// telemetryd_persist_dead_letter_failures_total).
const (
	deadLetterRedelivered  = "redelivered"
	deadLetterTerminated   = "terminated"
	deadLetterAcknowledged = "acknowledged"
)

// deadLetterPublishTimeout bounds one publish into the dead-letter stream.
const deadLetterPublishTimeout = 10 * time.Second

// deadLetterMsg is the dead-letter copy of m. Every Nats-* header is one JetStream acts
// on when a message is published: Nats-Expected-Stream and the other Nats-Expected-*
// checks (the event's stream is not the dead-letter stream, so the copy would be
// refused), Nats-Msg-Id deduplication, Nats-Rollup (which would purge the dead-letter
// stream), Nats-TTL and the batch headers. None of them may reach the dead-letter
// stream as such, so each is kept for the record as Telemetry-Dead-Orig-<name>.
func deadLetterMsg(subjectPrefix string, m jetstream.Msg, reason, storedIn string) *nats.Msg {
	dl := nats.NewMsg(subjectPrefix + "." + m.Subject())
	dl.Data = m.Data()
	for k, v := range m.Headers() {
		if len(k) >= 5 && strings.EqualFold(k[:5], "Nats-") {
			k = HeaderDeadOrigPrefix + k
		}
		dl.Header[k] = append([]string(nil), v...)
	}
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	dl.Header.Set(HeaderDeadReason, reason)
	dl.Header.Set(HeaderDeadSubject, m.Subject())
	if md, err := m.Metadata(); err == nil {
		dl.Header.Set(HeaderDeadSeq, strconv.FormatUint(md.Sequence.Stream, 10))
	}
	if storedIn != "" {
		dl.Header.Set(HeaderDeadStored, storedIn)
	}
	return dl
}

// deadLetter copies m to the dead-letter stream with the reason and acknowledges it,
// so it never blocks its partition. storedIn names the table that holds m's rows
// when ClickHouse stored them before failing; "" when it holds none.
//
// A copy the dead-letter stream does not take is logged and counted. An event whose
// rows are stored is acknowledged anyway: the copy was only a record, which the log
// line now is. Any other event is redelivered to be tried again, up to --max-deliver
// deliveries; then it is terminated, so that a dead-letter stream that stays
// unavailable cannot hold a partition forever (its events would wait, the backlog
// would grow until ingest refuses everything). A terminated event is not lost
// without a trace: it stays in the event stream's history (until its age or size
// limit) where the error log line, with its subject and sequence, finds it.
func (w *Worker) deadLetter(ctx context.Context, m jetstream.Msg, reason, storedIn string) {
	dl := deadLetterMsg(w.cfg.DeadLetter, m, reason, storedIn)
	var seq uint64
	delivered := uint64(1)
	if md, err := m.Metadata(); err == nil {
		seq, delivered = md.Sequence.Stream, md.NumDelivered
	}
	log := w.logger.With("subject", m.Subject(), "seq", seq, "tenant", m.Headers().Get(stream.HeaderTenant),
		"reason", dl.Header.Get(HeaderDeadReason), "traceparent", m.Headers().Get(stream.HeaderTraceParent))
	if err := w.publishDeadLetter(ctx, dl, seq); err != nil {
		outcome := deadLetterRedelivered
		switch {
		case storedIn != "":
			outcome = deadLetterAcknowledged
			_ = m.Ack()
		case delivered >= uint64(max(w.cfg.MaxDeliver, 1)):
			outcome = deadLetterTerminated
			_ = m.TermWithReason("dead-letter stream refused the copy: " + err.Error())
		default:
			_ = m.NakWithDelay(5 * time.Second)
		}
		log.Error("dead-letter the event failed", "deliveries", delivered, "then", outcome, "stored_in", storedIn, "err", err)
		if w.cfg.Metrics != nil {
			w.cfg.Metrics.DeadLetterFailures.WithLabelValues(outcome).Inc()
		}
		return
	}
	w.deadLettered.Add(1)
	if w.cfg.Metrics != nil {
		w.cfg.Metrics.DeadLetters.Inc()
	}
	log.Warn("event dead-lettered", "stored_in", storedIn)
	_ = m.Ack()
}

// publishDeadLetter publishes dl and checks that the dead-letter stream took it. The
// message id makes a retried copy of the same event (its ack was lost, the event came
// back) a duplicate inside the stream's duplicate window.
func (w *Worker) publishDeadLetter(ctx context.Context, dl *nats.Msg, seq uint64) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deadLetterPublishTimeout)
	defer cancel()
	opts := []jetstream.PublishOpt{jetstream.WithExpectStream(w.cfg.DeadLetter)}
	if seq > 0 {
		opts = append(opts, jetstream.WithMsgID(w.stream.Name+"-"+strconv.FormatUint(seq, 10)))
	}
	ack, err := w.js.PublishMsg(ctx, dl, opts...)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", w.cfg.DeadLetter, err)
	}
	if ack.Stream != w.cfg.DeadLetter {
		return fmt.Errorf("publish to %s: stored in stream %q instead", w.cfg.DeadLetter, ack.Stream)
	}
	return nil
}
