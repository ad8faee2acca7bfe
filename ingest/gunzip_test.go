package ingest

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"testing"
)

// TestGzipReadersAreReusedCorrectly: requests served by pooled gzip readers, good and
// broken ones in turn, each decode to their own body; a broken one is still a 400
// and leaves nothing behind for the next.
func TestGzipReadersAreReusedCorrectly(t *testing.T) {
	pub := &sinkPublisher{}
	ts := newTestServer(t, pub, 0)
	bearer := "Bearer " + goodSecret
	for i := range 6 {
		body := protoBody(t, i+1)
		zipped := gzipped(t, body)
		broken := map[int][]byte{1: zipped[:len(zipped)/2], 3: append([]byte("not gzip"), zipped...)}[i%4]
		if broken != nil {
			resp, answer := send(t, ts, request{contentType: contentTypeProto, encoding: "gzip", auth: bearer, body: broken})
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("broken gzip #%d: status %d: %s", i, resp.StatusCode, answer)
			}
		}
		resp, answer := send(t, ts, request{contentType: contentTypeProto, encoding: "gzip", auth: bearer, body: zipped})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("gzip #%d: status %d: %s", i, resp.StatusCode, answer)
		}
		// Checked at once: the payload is the request's pooled buffer, as the real
		// publisher has copied it out by the time it acknowledges.
		if len(pub.events) != i+1 || !bytes.Equal(pub.events[i].Payload, body) {
			t.Fatalf("gzip #%d: %d events, the last not the body that was sent", i, len(pub.events))
		}
	}
}

// TestGunzipReusesItsReader: reading a gzipped body allocates far less than a new
// gzip reader's 48 KiB once the pool holds one.
func TestGunzipReusesItsReader(t *testing.T) {
	rc := NewReceiver(DefaultConfig(), fakeAuth{}, nil, &sinkPublisher{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	zipped := gzipped(t, protoBody(t, 10))
	read := func() {
		gz, release, err := rc.gunzip(bytes.NewReader(zipped))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, gz); err != nil {
			t.Fatal(err)
		}
		release()
	}
	read()
	// A garbage collection empties sync.Pools, and other packages' tests running beside
	// this one can bring several during the loop: the reader would then be rebuilt for
	// reasons that are not this code's (it failed so under a loaded machine). The
	// collector stays off while allocations are counted.
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	// TotalAlloc counts the whole process, other tests' goroutines too: the least of
	// a few measurements is this loop's own.
	const runs = 50
	least := uint64(1 << 62)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range runs {
			read()
		}
		runtime.ReadMemStats(&after)
		least = min(least, (after.TotalAlloc-before.TotalAlloc)/runs)
	}
	if least > 16<<10 {
		t.Errorf("%d bytes allocated per gzipped body: the reader is not reused", least)
	}
}
