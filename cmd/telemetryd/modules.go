package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// The modules a process is built from, as Tempo and Loki build theirs (dskit
// modules): each role is a module, and so is each thing roles share; a module names
// the modules it needs, the manager starts them in dependency order and stops them in
// reverse.
const (
	modNATS        = "nats"        // embedded server or a connection to a cluster
	modStream      = "stream"      // the TELEMETRY stream
	modCredentials = "credentials" // the credential store and its watch
	modClickHouse  = "clickhouse"  // migrations and the connection
	modAPI         = "api"         // the HTTP mux: /health, /ready, /metrics, /openapi.json
	modIngest      = roleIngest
	modPersist     = rolePersist
	modFetch       = roleFetch
)

// moduleDeps lists each module's dependencies, in the order they start.
func moduleDeps() map[string][]string {
	return map[string][]string{
		modNATS:        nil,
		modStream:      {modNATS},
		modCredentials: {modNATS},
		modClickHouse:  nil,
		modAPI:         {modNATS},
		modIngest:      {modStream, modCredentials, modAPI},
		modPersist:     {modStream, modClickHouse, modAPI},
		modFetch:       {modStream, modCredentials, modClickHouse, modAPI},
	}
}

// modulesFor returns every module the roles need, dependencies before dependents.
func modulesFor(roles []string) []string {
	deps := moduleDeps()
	var order []string
	var visit func(string)
	visit = func(m string) {
		if slices.Contains(order, m) {
			return
		}
		for _, d := range deps[m] {
			visit(d)
		}
		order = append(order, m)
	}
	for _, r := range roles {
		visit(r)
	}
	return order
}

// module is one named part of the process. stop undoes what start did, also when
// start failed halfway (it checks what exists), so it must tolerate a partial start.
type module struct {
	start func(ctx context.Context) error
	stop  func(ctx context.Context) // nil when there is nothing to undo
}

// moduleManager starts the modules a role set needs in dependency order
// (modulesFor) and stops the ones it started in reverse.
type moduleManager struct {
	modules map[string]module
	started []string // in start order, including one whose start failed
}

// startAll starts the modules roles need. On error the caller still calls stopAll,
// which undoes everything started so far, the failing module included.
func (m *moduleManager) startAll(ctx context.Context, roles []string) error {
	for _, name := range modulesFor(roles) {
		mod, ok := m.modules[name]
		if !ok {
			return fmt.Errorf("unknown module %q", name)
		}
		m.started = append(m.started, name)
		if mod.start == nil {
			continue
		}
		if err := mod.start(ctx); err != nil {
			return fmt.Errorf("start %s: %w", name, err)
		}
	}
	return nil
}

// stopAll stops every started module, dependents before their dependencies. It is
// safe to call more than once.
func (m *moduleManager) stopAll(ctx context.Context) {
	for i := len(m.started) - 1; i >= 0; i-- {
		if stop := m.modules[m.started[i]].stop; stop != nil {
			stop(ctx)
		}
	}
	m.started = nil
}

// background runs one module's goroutines until the module stops: stop cancels
// their context and waits for them, so a module's work drains before the modules it
// depends on close.
type background struct {
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func newBackground() *background {
	ctx, cancel := context.WithCancel(context.Background())
	return &background{ctx: ctx, cancel: cancel}
}

// goWork runs fn with the module's context.
func (b *background) goWork(fn func(ctx context.Context)) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		fn(b.ctx)
	}()
}

// stop cancels the work and waits for it to return.
func (b *background) stop() {
	b.cancel()
	b.wg.Wait()
}
