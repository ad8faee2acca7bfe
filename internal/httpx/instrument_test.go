package httpx

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestInstrumentLabelsByPattern: requests are counted by route pattern and status,
// never by raw path, and a path no route matches is "unmatched".
func TestInstrumentLabelsByPattern(t *testing.T) {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "requests"}, []string{"route", "code"})
	seconds := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "seconds"}, []string{"route"})
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	h := Instrument(mux, requests, seconds)
	for _, path := range []string{"/items/1", "/items/2", "/nowhere"} {
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(requests, seconds)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{} // "name route code" → count
	for _, f := range families {
		for _, m := range f.GetMetric() {
			key := f.GetName()
			for _, l := range m.GetLabel() {
				key += " " + l.GetValue()
			}
			if f.GetName() == "requests" {
				got[key] = m.GetCounter().GetValue()
			} else {
				got[key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"requests 418 GET /items/{id}": 2, "requests 404 unmatched": 1,
		"seconds GET /items/{id}": 2, "seconds unmatched": 1,
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v (no raw paths)", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}
