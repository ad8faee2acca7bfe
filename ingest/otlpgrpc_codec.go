package ingest

import (
	"bytes"

	grpcencoding "google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// rawCodec is the OTLP/gRPC server's codec. A *bytes.Buffer is a message's protobuf
// encoding, kept as bytes: the export handler decodes it itself with the codec it
// shares with OTLP/HTTP (and may store it as it came), and answers with bytes it
// encoded. Anything else goes to grpc-go's protobuf codec.
type rawCodec struct{}

func (rawCodec) Name() string { return proto.Name }

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(*bytes.Buffer); ok {
		return mem.BufferSlice{mem.SliceBuffer(b.Bytes())}, nil
	}
	return grpcencoding.GetCodecV2(proto.Name).Marshal(v)
}

// Unmarshal copies the message into the buffer: grpc-go frees data when this returns.
func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if b, ok := v.(*bytes.Buffer); ok {
		b.Grow(data.Len())
		for _, d := range data {
			b.Write(d.ReadOnlyData())
		}
		return nil
	}
	return grpcencoding.GetCodecV2(proto.Name).Unmarshal(data, v)
}
