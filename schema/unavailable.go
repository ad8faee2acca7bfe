package schema

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/ClickHouse/clickhouse-go/v2"
)

// Unavailable reports whether err says ClickHouse could not serve a request for now
// (refused or broken connection, network timeout, overloaded server) rather than that
// the request itself is wrong: the same request can succeed later. Fetch answers such
// errors with 503 and Retry-After; a starting process waits through them.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var ex *clickhouse.Exception
	if errors.As(err, &ex) {
		return unavailableCode(ex.Code)
	}
	for _, target := range []error{
		clickhouse.ErrAcquireConnTimeout, clickhouse.ErrConnectionClosed,
		io.EOF, io.ErrUnexpectedEOF, net.ErrClosed,
		syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE, syscall.ETIMEDOUT,
		syscall.EHOSTUNREACH, syscall.ENETUNREACH,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// unavailableCode reports whether a ClickHouse exception code (ErrorCodes.cpp)
// describes the server's momentary state, not the query.
func unavailableCode(code int32) bool {
	switch code {
	case 159, // TIMEOUT_EXCEEDED
		160, // TOO_SLOW
		173, // CANNOT_ALLOCATE_MEMORY
		201, // QUOTA_EXPIRED
		202, // TOO_MANY_SIMULTANEOUS_QUERIES
		203, // NO_FREE_CONNECTION
		209, // SOCKET_TIMEOUT
		210, // NETWORK_ERROR
		241, // MEMORY_LIMIT_EXCEEDED
		242, // TABLE_IS_READ_ONLY
		279, // ALL_CONNECTION_TRIES_FAILED
		285, // TOO_FEW_LIVE_REPLICAS
		394, // QUERY_WAS_CANCELLED
		439: // CANNOT_SCHEDULE_TASK
		return true
	}
	return false
}
