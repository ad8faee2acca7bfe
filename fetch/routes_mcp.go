package fetch

import (
	"net/http"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// registerMCP adds the MCP tool and session views and the live tail.
func (a *API) registerMCP(mux *http.ServeMux, read route) {}

// tailSource is where the live tail reads events from.
type tailSource struct {
	js     jetstream.JetStream
	stream stream.Config
}

// WithTail enables GET /telemetry/tail on the event stream.
func WithTail(js jetstream.JetStream, cfg stream.Config) Option {
	return func(a *API) { a.tail = &tailSource{js: js, stream: cfg} }
}
