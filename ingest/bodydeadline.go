package ingest

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"google.golang.org/grpc/codes"
)

// A request body must arrive within a deadline scaled to its size: BodyReadBase plus
// one second per BodyMinRate bytes read so far, with one read buffer of slack. The
// deadline is set on the connection before every read, so a client that trickles its
// body (slowloris) is cut off after about BodyReadBase and its in-flight slot comes
// back, while a large body sent at a reasonable rate always has time to arrive.

// maxReadWindow is the most a single Read is credited before it returns: the slack a
// client gets on top of what it has sent.
const maxReadWindow = 64 << 10

// responseMargin is what the answer gets after the body's read deadline to be stored
// and written: the body may legitimately outlast the server's WriteTimeout.
const responseMargin = time.Minute

func errSlowBody(detail string) error {
	return &requestError{http.StatusRequestTimeout, codes.DeadlineExceeded,
		"request body arrived too slowly (" + detail + "); send it faster or in smaller requests"}
}

// deadlineBody reads a request body under the size-scaled deadline.
type deadlineBody struct {
	body  io.ReadCloser
	rc    *http.ResponseController
	start time.Time
	base  time.Duration
	rate  float64 // bytes per second
	read  int64
	now   func() time.Time
}

// newDeadlineBody wraps r's body; with a zero base or rate it returns the body as is.
func (rc *Receiver) newDeadlineBody(w http.ResponseWriter, r *http.Request) io.ReadCloser {
	if rc.cfg.BodyReadBase <= 0 || rc.cfg.BodyMinRate <= 0 {
		return r.Body
	}
	return &deadlineBody{body: r.Body, rc: http.NewResponseController(w), start: rc.now(),
		base: rc.cfg.BodyReadBase, rate: float64(rc.cfg.BodyMinRate), now: rc.now}
}

func (d *deadlineBody) Read(p []byte) (int, error) {
	window := int64(min(len(p), maxReadWindow))
	allowed := d.base + time.Duration(float64(d.read+window)/d.rate*float64(time.Second))
	deadline := d.start.Add(allowed)
	// Servers whose connections cannot take deadlines (ErrNotSupported) keep their
	// ReadTimeout instead.
	if err := d.rc.SetReadDeadline(deadline); err == nil {
		_ = d.rc.SetWriteDeadline(deadline.Add(responseMargin))
	}
	n, err := d.body.Read(p)
	d.read += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return n, errSlowBody(fmt.Sprintf("%d bytes read before the deadline", d.read))
	}
	return n, err
}

func (d *deadlineBody) Close() error { return d.body.Close() }

// grpcReceiveWithin bounds the wait for an OTLP/gRPC message. grpc-go hands the message
// over whole, so its progress cannot be measured: the bound is the time the largest
// allowed message gets at the minimum rate. The tenant's in-flight share bounds how
// many slots such slow calls can hold meanwhile.
func (rc *Receiver) grpcReceiveWithin() time.Duration {
	if rc.cfg.BodyReadBase <= 0 || rc.cfg.BodyMinRate <= 0 {
		return 0
	}
	return rc.cfg.BodyReadBase + time.Duration(float64(rc.cfg.MaxBodyBytes)/float64(rc.cfg.BodyMinRate)*float64(time.Second))
}
