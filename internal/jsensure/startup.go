package jsensure

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/internal/retry"
)

// attemptTimeout bounds one JetStream request at start. NATS drops a request without
// an answer when the server cannot route it yet (a cluster still electing its leaders)
// or when the user may not make it (ingest creating a stream persist owns, before
// persist did): only a timeout ends it, and the next attempt may be answered.
const attemptTimeout = 5 * time.Second

// Startup is the retry policy of a start-up step that talks to JetStream: retry what
// Transient says may pass, each attempt bounded, until the start deadline.
func Startup() retry.Policy {
	p := retry.Startup(Transient)
	p.Attempt = attemptTimeout
	return p
}

// Transient reports whether a JetStream error at start may go away by itself: a
// cluster that is forming (no leader yet, no responders, not enough peers for the
// replicas), a stream or bucket another role has not created yet, a request the user
// may not make until that role did, a connection being re-established. Permanent are
// a closed connection, refused credentials and a request the server refuses as invalid
// (400: a configuration it will never accept), except a name already in use, which a
// process started at the same moment causes and the next attempt opens.
func Transient(err error) bool {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrAuthorization) {
		return false
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.Code == http.StatusBadRequest {
		return apiErr.ErrorCode == jetstream.JSErrCodeStreamNameInUse
	}
	return true
}

// UntilCreated adapts ensure (a call of Stream or KeyValue for the stream streamName)
// to retry.Policy.Do for a role whose NATS user may not create that stream: once ensure
// was refused for lack of permission, later attempts first ask for the stream's info
// (which the user may) and call ensure only when the stream exists. So such a role
// waits for the stream's owner quietly, one refusal in the server's and its log, and
// comes up as soon as the owner created the stream.
func UntilCreated(js jetstream.JetStream, streamName string, ensure func(context.Context) error) func(context.Context) error {
	refused := false
	return func(ctx context.Context) error {
		if refused {
			if _, err := js.Stream(ctx, streamName); err != nil {
				return fmt.Errorf("%s, which this NATS user may not create, is not there yet (its owner role creates it): %w", streamName, err)
			}
		}
		err := ensure(ctx)
		refused = errors.Is(err, nats.ErrPermissionViolation)
		return err
	}
}
