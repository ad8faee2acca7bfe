package ingest

import (
	"bufio"
	"compress/gzip"
	"io"
)

// OTLP/HTTP exporters gzip by default. A new gzip.Reader allocates about 48 KiB (the
// 32 KiB window, a 4 KiB read buffer, Huffman tables) that the garbage collector then
// has to clear: most of the memory a gzipped request cost once its body was validated
// on the wire. The receiver reuses them instead, reset per request.

// pooledGzip is a gzip reader with the buffered reader it reads through: handing gzip
// an io.ByteReader keeps it from allocating its own buffer on every Reset.
type pooledGzip struct {
	src *bufio.Reader
	gz  gzip.Reader
}

// gunzip returns a reader of the gzip stream r from the receiver's pool, and the
// function that returns it there once the body has been read. The error is
// gzip.NewReader's for the same input.
func (rc *Receiver) gunzip(r io.Reader) (io.Reader, func(), error) {
	p, ok := rc.gzipReaders.Get().(*pooledGzip)
	if !ok {
		p = &pooledGzip{src: bufio.NewReader(r)}
	} else {
		p.src.Reset(r)
	}
	release := func() {
		p.src.Reset(nil) // hold no request body while pooled
		rc.gzipReaders.Put(p)
	}
	if err := p.gz.Reset(p.src); err != nil {
		release()
		return nil, nil, err
	}
	return &p.gz, release, nil
}
