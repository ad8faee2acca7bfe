package ingest

import (
	"context"

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
		ReceivedAt:  rc.now(),
		TraceParent: traceparent,
		Payload:     payload,
	})
	return err
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
