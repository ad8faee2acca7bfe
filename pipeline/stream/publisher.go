package stream

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/minio/highwayhash"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Event is one accepted OTLP payload, normalised to protobuf.
type Event struct {
	Tenant      string
	TokenID     string
	Signal      Signal
	TraceParent string // the request's W3C traceparent, if any
	Payload     []byte // OTLP protobuf ExportXxxServiceRequest
}

// Ack tells where an event was stored.
type Ack struct {
	Sequence  uint64
	Duplicate bool // an equal event was already stored inside the duplicate window
}

// ErrUnavailable wraps every publish failure: the event was not stored and the
// client should retry later.
var ErrUnavailable = errors.New("event stream unavailable")

// Publisher publishes events and waits for JetStream's acknowledgement.
type Publisher struct {
	js      jetstream.JetStream
	cfg     Config
	backlog *Backlog // told about every stored event, if set
}

// ReportTo makes the publisher tell b about every event it stores.
func (p *Publisher) ReportTo(b *Backlog) { p.backlog = b }

// NewPublisher returns a publisher for the stream described by cfg.
func NewPublisher(js jetstream.JetStream, cfg Config) *Publisher {
	return &Publisher{js: js, cfg: cfg}
}

// Publish stores ev durably. It returns only after the stream acknowledged it.
func (p *Publisher) Publish(ctx context.Context, ev Event) (Ack, error) {
	// A content hash as message id: an exporter's retry of the same payload inside the
	// duplicate window is stored once. It hashes the plain protobuf, so a retry is
	// recognised whatever the compression of either attempt.
	msgID := MessageID(ev.Tenant, ev.Signal, ev.Payload)
	payload := p.cfg.Compression.compress(ev.Payload)
	defer payload.release()
	msg := &nats.Msg{
		Subject: p.cfg.Subject(p.cfg.partitionOf(msgID), ev.Signal),
		Data:    payload.data,
		Header:  p.headers(ev, msgID, payload.encoding),
	}
	ack, err := p.js.PublishMsg(ctx, msg)
	if isStreamFull(err) {
		return Ack{}, fmt.Errorf("%w: publish %s event: %w", ErrBacklogFull, ev.Signal, err)
	}
	if err != nil {
		return Ack{}, fmt.Errorf("%w: publish %s event: %w", ErrUnavailable, ev.Signal, err)
	}
	if p.backlog != nil && !ack.Duplicate {
		p.backlog.Published(storedSize(msg))
	}
	return Ack{Sequence: ack.Sequence, Duplicate: ack.Duplicate}, nil
}

// headers are an event's NATS headers, JetStream's own included: Nats-Msg-Id (the
// content hash, for deduplication) and Nats-Expected-Stream, which the publish options
// WithMsgID and WithExpectStream would add at the cost of a closure each and an options
// struct. All values share one backing array. NATS header keys are case-sensitive and
// stored as given, as Header.Set does. A header without a value (no traceparent, a
// plain payload) is left out.
func (p *Publisher) headers(ev Event, msgID, encoding string) nats.Header {
	keys := [...]string{HeaderTenant, HeaderTokenID, HeaderSignal, jetstream.MsgIDHeader, jetstream.ExpectedStreamHeader, HeaderEncoding, HeaderTraceParent}
	values := [len(keys)]string{ev.Tenant, ev.TokenID, string(ev.Signal), msgID, p.cfg.Name, encoding, ev.TraceParent}
	h := make(nats.Header, len(keys))
	for i := range keys {
		if values[i] != "" {
			h[keys[i]] = values[i : i+1 : i+1]
		}
	}
	return h
}

// isStreamFull tells the stream's own refusal of an event because it reached its
// MaxBytes (DiscardNew), JetStream's error 10077 "maximum bytes exceeded".
func isStreamFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrCodeStoreFailed &&
		strings.Contains(apiErr.Description, "maximum bytes exceeded")
}

// jsErrCodeStoreFailed is JetStream's JSStreamStoreFailedF: storing a message failed.
const jsErrCodeStoreFailed jetstream.ErrorCode = 10077

// storedSize is about what the stream's accounting charges for msg: JetStream's file
// store counts subject, headers and data plus a 34-byte record frame. The headers are
// counted as encoded: "NATS/1.0" and a blank line, then one "Key: value" line each.
func storedSize(msg *nats.Msg) int {
	n := 34 + len(msg.Subject) + len(msg.Data) + len("NATS/1.0\r\n\r\n")
	for k, vs := range msg.Header {
		for _, v := range vs {
			n += len(k) + len(v) + 4
		}
	}
	return n
}

// MessageID is the deduplication id of a payload: equal for equal content of one tenant
// and signal, so that JetStream stores an exporter's retry once. It is a 256-bit
// HighwayHash, which hashes a request about seven times faster than SHA-256 did (the hash
// was a tenth of the ingest role's CPU). A collision would drop the later payload as a
// retry, so the id has 256 bits; the key is not a secret, since every instance and
// release must derive the same id from the same request, and the tenant is hashed in, so
// a crafted collision could only ever drop the crafter's own payload.
func MessageID(tenant string, signal Signal, payload []byte) string {
	h, err := highwayhash.New(messageIDKey[:])
	if err != nil {
		panic(err) // only for a key that is not 32 bytes
	}
	h.Write([]byte(tenant))
	h.Write([]byte{0})
	h.Write([]byte(signal))
	h.Write([]byte{0})
	h.Write(payload)
	var sum [highwayhash.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// messageIDKey keys MessageID's hash; changing it changes every id (for one duplicate
// window, a retry across the change would be stored twice).
var messageIDKey = sha256.Sum256([]byte("telemetryd Nats-Msg-Id v2"))
