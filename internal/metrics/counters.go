package metrics

import "github.com/prometheus/client_golang/prometheus"

// NewCounterVec registers a counter vector on the process's registry, for components
// whose counters are not among the fields of Metrics.
func (m *Metrics) NewCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.registry.MustRegister(c)
	return c
}
