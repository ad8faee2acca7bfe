package ingest

import (
	"context"
	"sync"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/authn/ratelimit"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// The steps every export request takes, whatever its transport (OTLP/HTTP or
// OTLP/gRPC): authorize the credential, then store the normalised payload.

// authorize authenticates an ingest token and takes one request from its rate limit.
// The decision is returned even on refusal so the caller can report the limit.
func (rc *Receiver) authorize(secret string) (authn.Credential, ratelimit.Decision, error) {
	tok, err := rc.auth.AuthenticateIngest(secret)
	if err != nil {
		return authn.Credential{}, ratelimit.Decision{}, err
	}
	d := ratelimit.Decision{Allowed: true}
	if rc.limits != nil {
		if d = rc.limits.Decide(tok.ID, tok.RateLimit); !d.Allowed {
			if rc.metrics != nil {
				rc.metrics.RateLimited.WithLabelValues("ingest").Inc()
			}
			return authn.Credential{}, d, errRateLimited
		}
	}
	// Refuse before the body is read when the stream cannot take more.
	if rc.admission != nil {
		if err := rc.admission.Admit(); err != nil {
			return authn.Credential{}, d, err
		}
	}
	return tok, d, nil
}

// store publishes payload (OTLP protobuf of signal) for tok and returns after the
// stream acknowledged it.
func (rc *Receiver) store(ctx context.Context, tok authn.Credential, signal stream.Signal, payload []byte, traceparent string) error {
	ctx, cancel := context.WithTimeout(ctx, rc.cfg.PublishTimeout)
	defer cancel()
	_, err := rc.pub.Publish(ctx, stream.Event{
		Tenant:      tok.Tenant,
		TokenID:     tok.ID,
		Signal:      signal,
		TraceParent: traceparent,
		Payload:     payload,
	})
	return err
}

// maxPartsInFlight bounds the publishes one split request has outstanding: its parts
// go to JetStream together instead of one round trip after another.
const maxPartsInFlight = 8

// storeParts publishes the parts of one request, at most maxPartsInFlight at a time,
// and returns once every one was acknowledged, or with the first error (the others
// are then abandoned; a retry of the request is deduplicated by content hash).
func (rc *Receiver) storeParts(ctx context.Context, tok authn.Credential, signal stream.Signal, parts [][]byte, traceparent string) error {
	if len(parts) == 1 {
		return rc.store(ctx, tok, signal, parts[0], traceparent)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	slots := make(chan struct{}, maxPartsInFlight)
	errs := make(chan error, len(parts))
	var wg sync.WaitGroup
	for _, part := range parts {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-slots }()
			if err := rc.store(ctx, tok, signal, part, traceparent); err != nil {
				errs <- err
				cancel()
			}
		})
	}
	wg.Wait()
	close(errs)
	if err, failed := <-errs; failed {
		return err
	}
	return ctx.Err()
}

// count records a stored request in the metrics.
func (rc *Receiver) count(signal stream.Signal, d decoded, bytes int) {
	if rc.metrics == nil || (d.items == 0 && d.rejected == 0) {
		return
	}
	rc.metrics.ItemsAccepted.WithLabelValues(string(signal)).Add(float64(d.items))
	rc.metrics.BytesIn.WithLabelValues(string(signal)).Add(float64(bytes))
	if d.rejected > 0 {
		rc.metrics.ItemsRejected.WithLabelValues(string(signal)).Add(float64(d.rejected))
	}
}
