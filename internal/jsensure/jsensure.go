// Package jsensure creates JetStream streams and KV buckets, or opens them as they are
// when they already have the configuration asked for.
//
// jetstream's CreateOrUpdate sends a stream update on every start, so every role would
// need the right to reconfigure every stream it opens. That right is a way around the
// NATS permissions: a stream update can add a source (copying another stream's messages
// in, e.g. forged records into the credential bucket) or a republish (copying every
// event to a subject the user may read). With this package a role needs only the right
// to read a stream's info when the stream is already as configured; updates are left
// to the roles that own the stream.
package jsensure

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Stream returns the stream cfg.Name, created if missing, updated only when a field cfg
// sets differs or the stream copies messages in or out (sources, mirror, republish)
// although cfg does not ask for it.
func Stream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	s, err := js.Stream(ctx, cfg.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		// Create, not CreateOrUpdate: that tries an update first, a right the
		// creator may lack. Another process may create it meanwhile.
		if s, err = js.CreateStream(ctx, cfg); !errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
			return s, explain(js, cfg.Name, err)
		}
		s, err = js.Stream(ctx, cfg.Name)
	}
	if err != nil {
		return nil, fmt.Errorf("stream %s info: %w", cfg.Name, err)
	}
	if !Differs(s.CachedInfo().Config, cfg) {
		return s, nil
	}
	s, err = js.CreateOrUpdateStream(ctx, cfg)
	return s, explain(js, cfg.Name, err)
}

// KeyValue returns the bucket cfg.Bucket, created if missing, updated only when its
// stream differs from cfg in what cfg sets (see Stream).
func KeyValue(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	s, err := js.Stream(ctx, "KV_"+cfg.Bucket)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		kv, cerr := js.CreateKeyValue(ctx, cfg)
		if !errors.Is(cerr, jetstream.ErrBucketExists) {
			return kv, explain(js, "KV_"+cfg.Bucket, cerr)
		}
		s, err = js.Stream(ctx, "KV_"+cfg.Bucket)
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s info: %w", cfg.Bucket, err)
	}
	if Differs(s.CachedInfo().Config, kvStreamFields(cfg)) {
		kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
		return kv, explain(js, "KV_"+cfg.Bucket, err)
	}
	return js.KeyValue(ctx, cfg.Bucket)
}

// kvStreamFields are the stream fields a KeyValueConfig sets, as jetstream maps them.
func kvStreamFields(cfg jetstream.KeyValueConfig) jetstream.StreamConfig {
	history := int64(cfg.History)
	if history == 0 {
		history = 1
	}
	replicas := cfg.Replicas
	if replicas == 0 {
		replicas = 1
	}
	return jetstream.StreamConfig{
		Description:       cfg.Description,
		MaxMsgsPerSubject: history,
		MaxAge:            cfg.TTL,
		MaxBytes:          cfg.MaxBytes,
		MaxMsgSize:        cfg.MaxValueSize,
		Storage:           cfg.Storage,
		Replicas:          replicas,
	}
}

// Differs reports whether have differs from want in a field want sets (non-zero) or in
// MaxAge, or
// copies messages in or out (Sources, Mirror, RePublish, SubjectTransform) where want
// does not: those are compared always, so a stream someone reconfigured to leak or
// inject messages is put back by the next role allowed to update it, and is refused by
// any other.
func Differs(have, want jetstream.StreamConfig) bool {
	if !reflect.DeepEqual(have.Sources, want.Sources) || !reflect.DeepEqual(have.Mirror, want.Mirror) ||
		!reflect.DeepEqual(have.RePublish, want.RePublish) || !reflect.DeepEqual(have.SubjectTransform, want.SubjectTransform) {
		return true
	}
	// A zero MaxAge means "keep until something else removes it": the event stream asks
	// for exactly that (its history is trimmed by telemetryd below the persisted floor),
	// so an age limit left from an older configuration must be taken off, not ignored.
	if have.MaxAge != want.MaxAge {
		return true
	}
	h, w := reflect.ValueOf(have), reflect.ValueOf(want)
	for i := range w.NumField() {
		f := w.Field(i)
		if f.IsZero() {
			continue
		}
		if !reflect.DeepEqual(f.Interface(), h.Field(i).Interface()) {
			return true
		}
	}
	return false
}

// explain adds to err the permission violation NATS reported for the stream, if any: a
// JetStream API request the user may not make gets no answer and ends in a timeout.
func explain(js jetstream.JetStream, stream string, err error) error {
	if err == nil {
		return nil
	}
	last := js.Conn().LastError()
	if errors.Is(last, nats.ErrPermissionViolation) && strings.Contains(last.Error(), "."+stream+`"`) {
		return fmt.Errorf("%w (%w: this NATS user may not create or reconfigure %s; its owner role does)", err, last, stream)
	}
	return err
}
