package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"syscall"
	"testing"

	"github.com/ClickHouse/clickhouse-go/v2"

	"github.com/telemetryd/telemetryd/internal/httpx"
)

func TestClassifyQueryErrors(t *testing.T) {
	chErr := func(code int32) error {
		return fmt.Errorf("query spans: %w", &clickhouse.Exception{Code: code, Name: "DB::Exception", Message: "x"})
	}
	refused := fmt.Errorf("ping clickhouse: %w", &net.OpError{Op: "dial", Net: "tcp",
		Err: &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}})
	tests := []struct {
		name string
		err  error
		want int
	}{
		{"bad parameter", badParam("limit", "must be a number"), http.StatusBadRequest},
		{"unknown trace", &notFoundError{msg: "trace not found"}, http.StatusNotFound},
		{"too many rows to read", chErr(158), http.StatusBadRequest},
		{"rows or bytes limit", chErr(396), http.StatusBadRequest},
		{"our deadline", fmt.Errorf("count: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{"client left", fmt.Errorf("count: %w", context.Canceled), http.StatusServiceUnavailable},
		{"server timeout", chErr(159), http.StatusServiceUnavailable},
		{"too slow", chErr(160), http.StatusServiceUnavailable},
		{"too many simultaneous queries", chErr(202), http.StatusServiceUnavailable},
		{"server's total memory limit", chErr(241), http.StatusServiceUnavailable},
		{"this query's memory limit (18.16)", fmt.Errorf("query: %w", &clickhouse.Exception{Code: 241,
			Message: "Memory limit (for query) exceeded: would use 1.00 GiB"}), http.StatusBadRequest},
		{"this query's memory limit (current)", fmt.Errorf("query: %w", &clickhouse.Exception{Code: 241,
			Message: "Query memory limit exceeded: would use 1.00 GiB"}), http.StatusBadRequest},
		{"connection refused", refused, http.StatusServiceUnavailable},
		{"connection reset", fmt.Errorf("read: %w", syscall.ECONNRESET), http.StatusServiceUnavailable},
		{"connection dropped", fmt.Errorf("read block: %w", io.EOF), http.StatusServiceUnavailable},
		{"pool exhausted", clickhouse.ErrAcquireConnTimeout, http.StatusServiceUnavailable},
		{"syntax error", chErr(62), http.StatusInternalServerError},
		{"unknown column", chErr(47), http.StatusInternalServerError},
		{"scan type mismatch", errors.New("clickhouse [ScanRow]: converting UInt64 to *string is unsupported"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			an := classify(tt.err)
			if an.status != tt.want {
				t.Fatalf("status %d, want %d", an.status, tt.want)
			}
			if an.bug != (tt.want == http.StatusInternalServerError) {
				t.Errorf("bug = %v for status %d", an.bug, an.status)
			}
			rec := httptest.NewRecorder()
			an.write(rec, httpx.WriteError)
			if got := rec.Header().Get("Retry-After"); (got != "") != (tt.want == http.StatusServiceUnavailable) || (got != "" && got != "5") {
				t.Errorf("Retry-After %q with status %d", got, tt.want)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
		})
	}
}
