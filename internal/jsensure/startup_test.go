package jsensure

import (
	"context"
	"fmt"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestTransient(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"unanswered request", fmt.Errorf("create stream: %w", context.DeadlineExceeded), true},
		{"no responders while electing", nats.ErrNoResponders, true},
		{"stream not created yet", fmt.Errorf("info: %w", jetstream.ErrStreamNotFound), true},
		{"not enough peers yet", &jetstream.APIError{Code: 500, ErrorCode: 10023, Description: "insufficient resources"}, true},
		{"jetstream temporarily unavailable", &jetstream.APIError{Code: 503, ErrorCode: 10008}, true},
		{"created by another process meanwhile", jetstream.ErrStreamNameAlreadyInUse, true},
		{"invalid configuration", &jetstream.APIError{Code: 400, ErrorCode: 10052, Description: "stream configuration invalid"}, false},
		{"subjects overlap", fmt.Errorf("create: %w", &jetstream.APIError{Code: 400, ErrorCode: 10065}), false},
		{"connection closed", nats.ErrConnectionClosed, false},
		{"wrong password", fmt.Errorf("connect: %w", nats.ErrAuthorization), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Transient(tt.err); got != tt.want {
				t.Errorf("Transient(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
