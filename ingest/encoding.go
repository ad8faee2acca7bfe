package ingest

import (
	"errors"
	"fmt"
	"mime"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"

	"github.com/telemetryd/telemetryd/pipeline/stream"
)

// encoding is the wire format of an OTLP/HTTP request and its response.
type encoding int

const (
	encodingProto encoding = iota
	encodingJSON
)

const (
	contentTypeProto = "application/x-protobuf"
	contentTypeJSON  = "application/json"
)

func (e encoding) contentType() string {
	if e == encodingJSON {
		return contentTypeJSON
	}
	return contentTypeProto
}

// parseContentType returns the encoding of a Content-Type header.
func parseContentType(header string) (encoding, error) {
	mediaType, _, err := mime.ParseMediaType(header)
	if err != nil {
		return encodingProto, unsupported(fmt.Sprintf("unsupported content type %q: use %s or %s", header, contentTypeProto, contentTypeJSON))
	}
	switch mediaType {
	case contentTypeProto, "application/protobuf":
		return encodingProto, nil
	case contentTypeJSON:
		return encodingJSON, nil
	}
	return encodingProto, unsupported(fmt.Sprintf("unsupported content type %q: use %s or %s", mediaType, contentTypeProto, contentTypeJSON))
}

// signalCodec decodes one signal's export requests and encodes its responses.
type signalCodec struct {
	signal stream.Signal
	// decode parses a request body, drops the items that cannot be stored and cuts
	// the rest into OTLP protobuf parts of at most maxPart bytes.
	decode func(body []byte, enc encoding, maxPart int) (decoded, error)
	// response encodes the export response, with a partial success when items were
	// rejected.
	response func(enc encoding, rejected int, reason string) ([]byte, error)
}

// decoded is an export request ready to be stored.
type decoded struct {
	parts    [][]byte // protobuf payloads, in order; none when nothing is to be stored
	items    int      // spans, data points or log records kept
	rejected int      // items dropped as invalid
	reason   string   // why they were dropped
}

// exportRequest is what the pdata Export*ServiceRequest types have in common.
type exportRequest interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
	MarshalProto() ([]byte, error)
}

// exportResponse is what the pdata Export*ServiceResponse types have in common.
type exportResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// signalTypes are the pdata functions one signal's codec is built from.
type signalTypes[Req exportRequest, Resp exportResponse] struct {
	newReq func() Req
	count  func(Req) int
	// sanitize removes the items that cannot be stored and says how many and why.
	sanitize func(Req) (int, string)
	split    func(Req, int) ([][]byte, error)
	respond  func(rejected int64, reason string) Resp
	// scan is the wire scan of a protobuf request (wirescan.go): clean and its item
	// count when pdata would decode it and sanitize and split change nothing.
	scan func([]byte) (items int, clean bool)
}

// prepare sanitizes a decoded request and cuts what is left into parts of at most
// maxPart bytes. OTLP/HTTP calls it after decoding the body, OTLP/gRPC directly. raw is
// the request's protobuf encoding when the caller has it: a request that lost nothing
// to sanitising and fits one message is then stored as it came, since re-encoding it
// would only cost time.
func (t signalTypes[Req, Resp]) prepare(req Req, maxPart int, raw []byte) (decoded, error) {
	var d decoded
	d.rejected, d.reason = t.sanitize(req)
	if d.items = t.count(req); d.items == 0 {
		return d, nil
	}
	if raw != nil && d.rejected == 0 && len(raw) <= maxPart {
		d.parts = [][]byte{raw}
		return d, nil
	}
	var err error
	if d.parts, err = t.split(req, maxPart); err != nil {
		if errors.Is(err, errItemTooLarge) {
			return decoded{}, tooLarge(fmt.Sprintf("a single item exceeds the largest message the stream takes (%d bytes)", maxPart))
		}
		return decoded{}, fmt.Errorf("encode as protobuf: %w", err)
	}
	return d, nil
}

// newCodec builds the OTLP/HTTP codec of one signal from its pdata types.
func newCodec[Req exportRequest, Resp exportResponse](signal stream.Signal, t signalTypes[Req, Resp]) signalCodec {
	return signalCodec{
		signal: signal,
		decode: func(body []byte, enc encoding, maxPart int) (decoded, error) {
			// A clean protobuf request that fits one message is stored as it came, and
			// the pdata path below would conclude the same at several times the cost.
			if enc == encodingProto && len(body) <= maxPart {
				if items, clean := t.scan(body); clean {
					if items == 0 {
						return decoded{}, nil
					}
					return decoded{parts: [][]byte{body}, items: items}, nil
				}
			}
			req := t.newReq()
			var err error
			if enc == encodingJSON {
				err = req.UnmarshalJSON(body)
			} else {
				err = req.UnmarshalProto(body)
			}
			if err != nil {
				return decoded{}, badRequest(fmt.Sprintf("invalid OTLP %s payload: %v", signal, err))
			}
			var raw []byte
			if enc == encodingProto {
				raw = body
			}
			return t.prepare(req, maxPart, raw)
		},
		response: func(enc encoding, rejected int, reason string) ([]byte, error) {
			resp := t.respond(int64(rejected), reason)
			if enc == encodingJSON {
				return resp.MarshalJSON()
			}
			return resp.MarshalProto()
		},
	}
}

var (
	tracesTypes = signalTypes[ptraceotlp.ExportRequest, ptraceotlp.ExportResponse]{
		newReq:   ptraceotlp.NewExportRequest,
		count:    func(r ptraceotlp.ExportRequest) int { return r.Traces().SpanCount() },
		sanitize: func(r ptraceotlp.ExportRequest) (int, string) { return validateTraces(r.Traces()) },
		split:    splitTraces,
		scan:     scanTraces,
		respond: func(n int64, reason string) ptraceotlp.ExportResponse {
			resp := ptraceotlp.NewExportResponse()
			if n > 0 {
				resp.PartialSuccess().SetRejectedSpans(n)
				resp.PartialSuccess().SetErrorMessage(reason)
			}
			return resp
		},
	}
	metricsTypes = signalTypes[pmetricotlp.ExportRequest, pmetricotlp.ExportResponse]{
		newReq:   pmetricotlp.NewExportRequest,
		count:    func(r pmetricotlp.ExportRequest) int { return r.Metrics().DataPointCount() },
		sanitize: func(r pmetricotlp.ExportRequest) (int, string) { return validateMetrics(r.Metrics()) },
		split:    splitMetrics,
		scan:     scanMetrics,
		respond: func(n int64, reason string) pmetricotlp.ExportResponse {
			resp := pmetricotlp.NewExportResponse()
			if n > 0 {
				resp.PartialSuccess().SetRejectedDataPoints(n)
				resp.PartialSuccess().SetErrorMessage(reason)
			}
			return resp
		},
	}
	logsTypes = signalTypes[plogotlp.ExportRequest, plogotlp.ExportResponse]{
		newReq:   plogotlp.NewExportRequest,
		count:    func(r plogotlp.ExportRequest) int { return r.Logs().LogRecordCount() },
		sanitize: func(r plogotlp.ExportRequest) (int, string) { return validateLogs(r.Logs()) },
		split:    splitLogs,
		scan:     scanLogs,
		respond: func(n int64, reason string) plogotlp.ExportResponse {
			resp := plogotlp.NewExportResponse()
			if n > 0 {
				resp.PartialSuccess().SetRejectedLogRecords(n)
				resp.PartialSuccess().SetErrorMessage(reason)
			}
			return resp
		},
	}

	tracesCodec  = newCodec(stream.SignalTraces, tracesTypes)
	metricsCodec = newCodec(stream.SignalMetrics, metricsTypes)
	logsCodec    = newCodec(stream.SignalLogs, logsTypes)
)

// allCodecs serve the combined endpoint, which takes any mix of the three signals.
var allCodecs = []signalCodec{tracesCodec, metricsCodec, logsCodec}
