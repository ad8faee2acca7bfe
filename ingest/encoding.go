package ingest

import (
	"fmt"
	"mime"

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

var tracesCodec = signalCodec{
	signal: stream.SignalTraces,
	normalise: func(body []byte, enc encoding) ([]byte, int, error) {
		req := ptraceotlp.NewExportRequest()
		var err error
		if enc == encodingJSON {
			err = req.UnmarshalJSON(body)
		} else {
			err = req.UnmarshalProto(body)
		}
		if err != nil {
			return nil, 0, badRequest("invalid OTLP traces payload: " + err.Error())
		}
		n := req.Traces().SpanCount()
		if n == 0 {
			return nil, 0, nil
		}
		payload, err := req.MarshalProto()
		if err != nil {
			return nil, 0, fmt.Errorf("encode traces as protobuf: %w", err)
		}
		return payload, n, nil
	},
	response: func(enc encoding) ([]byte, error) {
		resp := ptraceotlp.NewExportResponse()
		if enc == encodingJSON {
			return resp.MarshalJSON()
		}
		return resp.MarshalProto()
	},
}
