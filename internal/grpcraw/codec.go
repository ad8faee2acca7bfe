// Package grpcraw is a gRPC codec that passes protobuf messages through as bytes, for
// the OTLP/gRPC server (which decodes requests itself) and the load generator's client
// (which sends requests already encoded).
package grpcraw

import (
	"bytes"

	grpcencoding "google.golang.org/grpc/encoding"
	"google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
)

// Codec treats a *bytes.Buffer as a message's protobuf encoding, kept as bytes: the
// ingest export handler decodes it itself with the codec it shares with OTLP/HTTP (and
// may store it as it came) and answers with bytes it encoded; the load generator sends
// requests it encoded once. Anything else goes to grpc-go's protobuf codec.
type Codec struct{}

func (Codec) Name() string { return proto.Name }

func (Codec) Marshal(v any) (mem.BufferSlice, error) {
	if b, ok := v.(*bytes.Buffer); ok {
		return mem.BufferSlice{mem.SliceBuffer(b.Bytes())}, nil
	}
	return grpcencoding.GetCodecV2(proto.Name).Marshal(v)
}

// Unmarshal copies the message into the buffer: grpc-go frees data when this returns.
func (Codec) Unmarshal(data mem.BufferSlice, v any) error {
	if b, ok := v.(*bytes.Buffer); ok {
		b.Grow(data.Len())
		for _, d := range data {
			b.Write(d.ReadOnlyData())
		}
		return nil
	}
	return grpcencoding.GetCodecV2(proto.Name).Unmarshal(data, v)
}
