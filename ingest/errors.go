package ingest

import (
	"errors"
	"net/http"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/telemetryd/telemetryd/authn"
	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// retryAfterSeconds is what clients are told to wait after 429 and 503.
const retryAfterSeconds = 5

// requestError is an error with the HTTP status and gRPC code it maps to.
type requestError struct {
	status int
	code   codes.Code
	msg    string
}

func (e *requestError) Error() string { return e.msg }

var errRateLimited = &requestError{http.StatusTooManyRequests, codes.ResourceExhausted, "rate limit of this ingest token exceeded, retry after the time in Retry-After"}

var errOverloaded = &requestError{http.StatusServiceUnavailable, codes.Unavailable, "too many requests in flight, retry later"}

func badRequest(msg string) error {
	return &requestError{http.StatusBadRequest, codes.InvalidArgument, msg}
}
func tooLarge(msg string) error {
	return &requestError{http.StatusRequestEntityTooLarge, codes.InvalidArgument, msg}
}
func unsupported(msg string) error {
	return &requestError{http.StatusUnsupportedMediaType, codes.InvalidArgument, msg}
}

// classify is the one place that maps an error to its HTTP status, gRPC code and the
// message the client sees. Messages never contain a credential.
func classify(err error) (int, codes.Code, string) {
	var re *requestError
	switch {
	case errors.As(err, &re):
		return re.status, re.code, re.msg
	case errors.Is(err, errBadIdempotencyKey):
		return http.StatusBadRequest, codes.InvalidArgument, err.Error()
	case errors.Is(err, authn.ErrNotIngestToken):
		return http.StatusForbidden, codes.PermissionDenied, err.Error()
	case errors.Is(err, authn.ErrMissingCredential), errors.Is(err, authn.ErrInvalidCredential),
		errors.Is(err, authn.ErrExpiredCredential), errors.Is(err, authn.ErrRevokedCredential):
		return http.StatusUnauthorized, codes.Unauthenticated, err.Error()
	case errors.Is(err, stream.ErrBacklogFull):
		return http.StatusServiceUnavailable, codes.Unavailable, "the event stream is full of events not yet persisted, retry later"
	case errors.Is(err, stream.ErrUnavailable):
		return http.StatusServiceUnavailable, codes.Unavailable, "event stream unavailable, retry later"
	default:
		return http.StatusInternalServerError, codes.Internal, "internal error"
	}
}

// retryable says whether a refusal tells the client when to retry (Retry-After on HTTP,
// RetryInfo on gRPC): rate limits and overload pass, the rest would fail again.
func retryable(httpStatus int) bool {
	return httpStatus == http.StatusTooManyRequests || httpStatus == http.StatusServiceUnavailable
}

// writeStatus answers with a google.rpc.Status body in the request's encoding.
func writeStatus(w http.ResponseWriter, enc encoding, err error) {
	httpStatus, code, msg := classify(err)
	st := &status.Status{Code: int32(code), Message: msg}
	var body []byte
	if enc == encodingJSON {
		body, _ = protojson.Marshal(st)
	} else {
		body, _ = proto.Marshal(st)
	}
	if retryable(httpStatus) && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", strconv.Itoa(retryAfterSeconds))
	}
	if httpStatus == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="telemetryd"`)
	}
	w.Header().Set("Content-Type", enc.contentType())
	w.WriteHeader(httpStatus)
	_, _ = w.Write(body)
}
