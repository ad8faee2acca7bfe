package ingest

import (
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
	// normalise decodes a request body and returns it as OTLP protobuf, with the
	// number of items (spans, points, records) it holds.
	normalise func(body []byte, enc encoding) (payload []byte, items int, err error)
	// response encodes an empty (fully successful) export response.
	response func(enc encoding) ([]byte, error)
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

// newCodec builds the codec of one signal from its pdata request and response types.
func newCodec[Req exportRequest, Resp exportResponse](signal stream.Signal, newReq func() Req, count func(Req) int, newResp func() Resp) signalCodec {
	return signalCodec{
		signal: signal,
		normalise: func(body []byte, enc encoding) ([]byte, int, error) {
			req := newReq()
			var err error
			if enc == encodingJSON {
				err = req.UnmarshalJSON(body)
			} else {
				err = req.UnmarshalProto(body)
			}
			if err != nil {
				return nil, 0, badRequest(fmt.Sprintf("invalid OTLP %s payload: %v", signal, err))
			}
			n := count(req)
			if n == 0 {
				return nil, 0, nil
			}
			payload, err := req.MarshalProto()
			if err != nil {
				return nil, 0, fmt.Errorf("encode %s as protobuf: %w", signal, err)
			}
			return payload, n, nil
		},
		response: func(enc encoding) ([]byte, error) {
			resp := newResp()
			if enc == encodingJSON {
				return resp.MarshalJSON()
			}
			return resp.MarshalProto()
		},
	}
}

var (
	tracesCodec = newCodec(stream.SignalTraces, ptraceotlp.NewExportRequest,
		func(r ptraceotlp.ExportRequest) int { return r.Traces().SpanCount() }, ptraceotlp.NewExportResponse)
	metricsCodec = newCodec(stream.SignalMetrics, pmetricotlp.NewExportRequest,
		func(r pmetricotlp.ExportRequest) int { return r.Metrics().DataPointCount() }, pmetricotlp.NewExportResponse)
	logsCodec = newCodec(stream.SignalLogs, plogotlp.NewExportRequest,
		func(r plogotlp.ExportRequest) int { return r.Logs().LogRecordCount() }, plogotlp.NewExportResponse)
)

// allCodecs serve the combined endpoint, which takes any mix of the three signals.
var allCodecs = []signalCodec{tracesCodec, metricsCodec, logsCodec}
