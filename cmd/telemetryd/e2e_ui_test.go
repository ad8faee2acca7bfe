package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	otellog "go.opentelemetry.io/otel/log"

	"github.com/telemetryd/telemetryd/authn"
)

// bigTraceSpans is the largest trace the API returns whole.
const bigTraceSpans = 10000

// TestWebUIInChromium drives the UI in headless Chromium against a real server: sign
// in, the traces an OTel SDK just sent, one trace's waterfall, a log filter, the live
// tail receiving a new log, an ingest token created and revoked, sign out. Every page
// is saved as a screenshot.
func TestWebUIInChromium(t *testing.T) {
	ctx, problems := uiBrowser(t)
	s := startTestServerWith(t, func(c *serveConfig) {
		c.Auth.AnonymousLimit = authn.RateLimit{Rate: 1000, Burst: 1000}
	})
	addr := s.httpAddr.String()
	// The browser goes through a proxy that can drop its connections.
	proxy := startConnDropper(t, addr)
	base := "http://" + proxy.ln.Addr().String()
	c := apiClient{t: t, base: "http://" + addr}
	const email, password = "ui@acme.example", "ui-pass-delta-42"
	bootstrapAdmin(t, s, c, "acme", email, password)
	token := ingestToken(t, s, "acme")
	sendUITelemetry(t, addr, token)
	waitForRows(t, s, "the spans", "SELECT count() FROM spans WHERE tenant_id = 'acme' AND service_name = 'weather-mcp'", 4)
	waitForRows(t, s, "the logs", "SELECT count() FROM logs WHERE tenant_id = 'acme' AND service_name = 'weather-mcp'", 2)
	sendBigTrace(t, addr, token, bigTraceSpans)
	waitForRows(t, s, "the big trace", "SELECT count() FROM spans WHERE tenant_id = 'acme' AND service_name = 'batch-job'", bigTraceSpans)
	dir := screenshotDir(t)

	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		step, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := chromedp.Do(step, actions...); err != nil {
			body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: %v\npage text:\n%s\nbrowser problems: %v", what, err, body, problems())
		}
	}

	var location string
	run("open / and land on the sign-in form",
		chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.CSS(`#login`)), into(&location, chromedp.Location()), shot(t, dir, "1-sign-in"))
	if location != base+"/ui/" {
		t.Fatalf("/ led to %s, want %s/ui/", location, base)
	}
	run("sign in with a wrong password",
		chromedp.SendKeys(chromedp.CSS(`#login input[name=email]`), email), chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), "wrong-password"),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)), waitText(`#login`, "Wrong email or password"))
	run("sign in",
		chromedp.SetValue(chromedp.CSS(`#login input[name=password]`), password), chromedp.Click(chromedp.CSS(`#login button[type=submit]`)),
		waitText(`#traces`, "tools/call get_weather"), waitText(`#traces`, "weather-mcp"), shot(t, dir, "2-traces"))

	var firstPage, secondPage string
	run("page through the traces by cursor",
		chromedp.Navigate(base+"/ui/#/traces?limit=1"), chromedp.WaitVisible(chromedp.CSS(`#traces`)),
		into(&firstPage, chromedp.Evaluate[string](`document.querySelector('#traces tbody').innerText`)),
		chromedp.Click(chromedp.CSS(`#next`)), waitJS(`location.hash.includes('cursor=')`), chromedp.WaitVisible(chromedp.CSS(`#traces`)),
		into(&secondPage, chromedp.Evaluate[string](`document.querySelector('#traces tbody').innerText`)),
		chromedp.NavigateBack(), waitJS(`!location.hash.includes('cursor=')`), chromedp.WaitVisible(chromedp.CSS(`#traces`)),
		chromedp.Navigate(base+"/ui/#/traces"), waitText(`#traces`, "tools/call get_weather"))
	if firstPage == secondPage || !strings.Contains(firstPage+secondPage, "tools/call get_weather") || !strings.Contains(firstPage+secondPage, "nightly import") {
		t.Fatalf("cursor pages: %q then %q", firstPage, secondPage)
	}

	run("sort the traces by duration",
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('#traces button.sort')].find((b) => b.innerText.startsWith('Duration'))`)),
		waitJS(`location.hash.includes('sort=duration') && !!document.querySelector('#traces th[aria-sort="descending"]') && document.querySelector('#traces th[aria-sort="descending"]').innerText.startsWith('Duration')`),
		waitText(`#traces`, "tools/call get_weather"))

	var rows int
	run("open the trace",
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('#traces a.trace-link')].find((a) => a.innerText === 'tools/call get_weather')`)), chromedp.WaitVisible(chromedp.CSS(`#waterfall .wf-row`)),
		waitText(`#span-details`, "tools/call get_weather"),
		into(&rows, chromedp.Evaluate[int](`document.querySelectorAll('#waterfall .wf-row').length`)))
	if rows != 4 {
		t.Fatalf("the waterfall shows %d spans, want 4", rows)
	}
	run("select the failing span with the keyboard",
		chromedp.Focus(chromedp.CSS(`#waterfall`)), chromedp.KeyEvent(kb.ArrowDown), chromedp.KeyEvent(kb.ArrowDown),
		waitText(`#span-details`, "upstream 503"), waitText(`#span-details`, "retry"), waitText(`#span-details`, "service.version"),
		shot(t, dir, "3-trace"))

	var big struct {
		Rows  int    `json:"rows"`
		Last  string `json:"last"`
		Total string `json:"total"`
	}
	run("a trace of 10 000 spans renders only the rows in view",
		chromedp.Click(chromedp.CSS(`nav a[href^="#/traces"]`)), waitText(`#traces`, "nightly import"),
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('#traces a.trace-link')].find((a) => a.innerText === 'nightly import')`)),
		waitText(`main`, "10000 spans"), chromedp.WaitVisible(chromedp.CSS(`#waterfall .wf-row`)),
		chromedp.Focus(chromedp.CSS(`#waterfall`)), chromedp.KeyEvent(kb.End),
		waitText(`#span-details`, "row 9999"),
		into(&big, chromedp.Evaluate[struct {
			Rows  int    `json:"rows"`
			Last  string `json:"last"`
			Total string `json:"total"`
		}](`({rows: document.querySelectorAll('#waterfall .wf-row').length,
			last: [...document.querySelectorAll('#waterfall .wf-row')].pop().innerText,
			total: document.querySelector('#waterfall .wf-inner').style.height})`)),
		shot(t, dir, "3b-trace-10000-spans"),
		// Find jumps to a span far down; collapsing the root hides the other 9 999 rows.
		chromedp.SendKeys(chromedp.CSS(`#span-find`), "row 5000\r"), waitText(`#span-details`, "row 5000"),
		chromedp.Focus(chromedp.CSS(`#waterfall`)), chromedp.KeyEvent(kb.Home), waitText(`#span-details`, "nightly import"),
		chromedp.KeyEvent(kb.ArrowLeft), waitJS(`document.querySelector('#waterfall .wf-inner').style.height === '26px'`),
		waitText(`#waterfall`, "(+9999 hidden)"), chromedp.KeyEvent(kb.ArrowRight),
		waitJS(fmt.Sprintf(`document.querySelector('#waterfall .wf-inner').style.height === '%dpx'`, bigTraceSpans*26)))
	if big.Rows == 0 || big.Rows > 200 || !strings.Contains(big.Last, "row") || big.Total != fmt.Sprintf("%dpx", bigTraceSpans*26) {
		t.Fatalf("the 10 000-span waterfall: %+v, want a few dozen rows in the DOM over a %dpx scroll height", big, bigTraceSpans*26)
	}

	var before, after string
	run("an expired access token is refreshed without losing the page",
		chromedp.Navigate(base+"/ui/#/logs?q=cache"), waitText(`#logs`, "cache warmed"),
		into(&before, chromedp.Evaluate[string](`(() => { const s = JSON.parse(sessionStorage.getItem('telemetryd.session')); const r = s.refresh; s.access = 'expired'; sessionStorage.setItem('telemetryd.session', JSON.stringify(s)); return r; })()`)),
		chromedp.Reload(), waitText(`#logs`, "cache warmed"),
		into(&after, chromedp.Evaluate[string](`JSON.parse(sessionStorage.getItem('telemetryd.session')).refresh`)))
	if before == after || after == "" {
		t.Fatalf("the refresh token was not traded for a new one (%q, %q)", before, after)
	}

	run("filter logs by body text",
		chromedp.Click(chromedp.CSS(`nav a[href^="#/logs"]`)), waitText(`#logs`, "cache warmed"),
		chromedp.SendKeys(chromedp.CSS(`form.filters input[name=q]`), "upstream"), chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
		waitJS(`(() => { const t = document.querySelector('#logs'); return !!t && t.tBodies[0].rows.length === 1 && t.innerText.includes('upstream weather API failed'); })()`),
		shot(t, dir, "4-logs"),
		// Pinning the range makes the link absolute; the page shows the same logs.
		chromedp.Click(chromedp.CSS(`#pin`)),
		waitJS(`/[?&]from=\d+/.test(location.hash) && /[?&]to=\d+/.test(location.hash) && /[?&]q=upstream/.test(location.hash)`),
		waitText(`#logs`, "upstream weather API failed"))

	run("open the live tail", chromedp.Click(chromedp.CSS(`#tail`)), waitText(`#tail-status`, "connected"))
	sendUILog(t, addr, token, otellog.SeverityWarn, "upstream slow, live tail sees this")
	run("the tail receives the new log", waitText(`#tail-table`, "live tail sees this"))
	// Drop the connection (the browser goes offline, which fails open requests), send a
	// log meanwhile, come back: the tail resumes after the last event it saw, so the
	// log sent while it was away arrives too.
	// While the network is down the tail cannot reconnect: the log sent meanwhile can
	// only arrive through the resumed stream (a new tail starts at new events).
	proxy.setDown(true)
	run("the tail loses its connection", waitText(`#tail-status`, "resuming"))
	sendUILog(t, addr, token, otellog.SeverityWarn, "upstream sent while the tail was away")
	proxy.setDown(false)
	run("the tail resumes with Last-Event-ID",
		waitText(`#tail-table`, "sent while the tail was away"), waitText(`#tail-status`, "connected"), shot(t, dir, "5-logs-live-tail"))
	if n := strings.Count(mustText(t, ctx, `#tail-table`), "live tail sees this"); n != 1 {
		t.Errorf("after resuming, the tail shows the log before the drop %d times, want once", n)
	}

	run("filter logs by severity (the tail stops when the page changes)",
		into(new(bool), chromedp.Evaluate[bool](`(() => { const f = document.querySelector('form.filters'); f.elements.severity.value = 'error'; f.elements.q.value = ''; return true; })()`)),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
		waitJS(`location.hash.includes('severity=error') && !location.hash.includes('q=')`),
		waitJS(`(() => { const t = document.querySelector('#logs'); return !!t && t.tBodies[0].rows.length === 1 && t.innerText.includes('upstream weather API failed'); })()`),
		waitJS(`!document.querySelector('#tail-table')`))

	run("metrics and MCP pages",
		chromedp.Click(chromedp.CSS(`nav a[href^="#/metrics"]`)), waitText(`main`, "Pick a metric"),
		waitJS(`[...document.querySelectorAll('#metric-names option')].some((o) => o.value === 'mcp.tool.duration')`),
		chromedp.SendKeys(chromedp.CSS(`form.filters input[name=metric]`), "mcp.tool.duration"),
		chromedp.SetValue(chromedp.CSS(`form.filters input[name=group]`), "attr.mcp.tool.name"),
		chromedp.Click(chromedp.CSS(`form.filters button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#metric-chart svg circle, #metric-chart svg polyline`)), waitText(`main`, "p99 mcp.tool.name=get_weather"), waitText(`main`, "p50 mcp.tool.name=get_weather"),
		shot(t, dir, "6-metrics"),
		chromedp.Click(chromedp.CSS(`nav a[href^="#/mcp"]`)), waitText(`#tools`, "get_weather"), chromedp.WaitVisible(chromedp.CSS(`#tool-chart svg circle, #tool-chart svg polyline`)), waitText(`main`, "sess-ui-1"), shot(t, dir, "7-mcp"))

	var secret string
	run("create an ingest token",
		chromedp.Click(chromedp.CSS(`nav a[href^="#/settings"]`)), chromedp.WaitVisible(chromedp.CSS(`#tokens-create`)),
		chromedp.SendKeys(chromedp.CSS(`#tokens-create input[name=name]`), "ui-token"), chromedp.Click(chromedp.CSS(`#tokens-create button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#section-tokens .secret-box input.secret`)), into(&secret, chromedp.Value(chromedp.CSS(`#section-tokens .secret-box input.secret`))),
		waitText(`#tokens`, "ui-token"), shot(t, dir, "8-settings-token-created"))
	if len(secret) < 20 {
		t.Fatalf("the new token's secret is %q", secret)
	}
	sendUILog(t, addr, secret, otellog.SeverityInfo, "sent with the token made in the UI")
	var rotated string
	run("rotate it: a new secret, shown once",
		chromedp.Click(chromedp.CSS(`#tokens tr[data-name="ui-token"] button.rotate`)),
		waitJS(fmt.Sprintf(`(() => { const e = document.querySelector('#section-tokens .secret-box input.secret'); return !!e && e.value !== %q; })()`, secret)),
		into(&rotated, chromedp.Value(chromedp.CSS(`#section-tokens .secret-box input.secret`))))
	sendUILog(t, addr, rotated, otellog.SeverityInfo, "sent with the rotated token")
	secret = rotated

	var key string
	run("create an API key",
		chromedp.SendKeys(chromedp.CSS(`#apikeys-create input[name=name]`), "ui-key"), chromedp.Click(chromedp.CSS(`#apikeys-create button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#section-apikeys .secret-box input.secret`)), into(&key, chromedp.Value(chromedp.CSS(`#section-apikeys .secret-box input.secret`))),
		waitText(`#apikeys`, "telemetry:read"),
		// The form is reset for the next key, with its default scope still ticked.
		waitJS(`document.querySelector('#apikeys-create input[name="scope-telemetry:read"]').checked`))
	if got, _, _ := c.call("GET", "/telemetry/fetch_resources", key, nil); got != 200 {
		t.Errorf("the API key made in the UI reads telemetry: %d", got)
	}
	run("revoke the API key",
		chromedp.Click(chromedp.CSS(`#apikeys tr[data-name="ui-key"] button.danger`)), chromedp.Click(chromedp.CSS(`#apikeys tr[data-name="ui-key"] button.danger`)),
		waitText(`#apikeys tr[data-name="ui-key"]`, "revoked"))
	if got, _, _ := c.call("GET", "/telemetry/fetch_resources", key, nil); got != 401 {
		t.Errorf("the revoked API key: %d, want 401", got)
	}
	run("revoke it (two presses)",
		chromedp.Click(chromedp.CSS(`#tokens tr[data-name="ui-token"] button.danger`)), waitText(`#tokens tr[data-name="ui-token"]`, "Confirm revoke"),
		chromedp.Click(chromedp.CSS(`#tokens tr[data-name="ui-token"] button.danger`)), waitText(`#tokens tr[data-name="ui-token"]`, "revoked"),
		shot(t, dir, "9-settings-token-revoked"))
	if got, _, _ := c.call("GET", "/auth/fetch_user", secret, nil); got != 401 && got != 403 {
		t.Errorf("the revoked ingest token reads the API: %d", got)
	}

	var grant string
	run("invite a user: the one-time set-password token is shown",
		chromedp.SendKeys(chromedp.CSS(`#section-users input[name=email]`), "dana@acme.example"),
		chromedp.SetValue(chromedp.CSS(`#section-users select[name=role]`), "member"),
		chromedp.Click(chromedp.CSS(`#section-users button[type=submit]`)),
		waitText(`#users`, "dana@acme.example"),
		into(&grant, chromedp.Value(chromedp.CSS(`#section-users .secret-box input.secret`))))
	c.want(200, "POST", "/auth/set_password", "", map[string]string{"token": grant, "password": "dana-pass-echo-55"})
	c.login("dana@acme.example", "dana-pass-echo-55")

	run("the traces page at 390 px",
		chromedp.EmulateViewport(390, 844), chromedp.Click(chromedp.CSS(`nav a[href^="#/traces"]`)), waitText(`#traces`, "tools/call get_weather"),
		shot(t, dir, "10-traces-390px"),
		chromedp.Click(chromedp.JSPath(`[...document.querySelectorAll('#traces a.trace-link')].find((a) => a.innerText === 'tools/call get_weather')`)),
		waitText(`#span-details`, "tools/call get_weather"), shot(t, dir, "10b-trace-390px"),
		chromedp.EmulateViewport(1280, 900))

	var stored string
	run("sign out",
		chromedp.Click(chromedp.CSS(`#signout`)), chromedp.WaitVisible(chromedp.CSS(`#login`)),
		into(&stored, chromedp.Evaluate[string](`sessionStorage.getItem('telemetryd.session') || ''`)))
	if stored != "" {
		t.Fatalf("the session is still stored after signing out: %q", stored)
	}
	run("a session whose refresh token is gone shows the sign-in form with a message",
		chromedp.SendKeys(chromedp.CSS(`#login input[name=email]`), email), chromedp.SendKeys(chromedp.CSS(`#login input[name=password]`), password),
		chromedp.Click(chromedp.CSS(`#login button[type=submit]`)), waitText(`#traces`, "tools/call get_weather"),
		into(new(bool), chromedp.Evaluate[bool](`(sessionStorage.setItem('telemetryd.session', JSON.stringify({access: 'x', refresh: 'y'})), true)`)),
		chromedp.Reload(), waitText(`#login`, "session expired"), shot(t, dir, "11-session-expired"))

	if p := problems(); len(p) > 0 {
		t.Fatalf("the browser reported problems: %v", p)
	}
}

// TestWebUISingleSignOn signs in through the SSO button: the UI offers it because
// SSO is configured, the provider sends the browser back through the callback to
// /ui/ with the token pair in the fragment, and the UI takes it and drops it from the
// address bar.
func TestWebUISingleSignOn(t *testing.T) {
	ctx, problems := uiBrowser(t)
	addr := freeAddr(t)
	base := "http://" + addr
	const clientID, clientSecret = "telemetryd", "op-client-secret-for-ui-tests"
	idp := startTestOP(t, clientID, clientSecret, base+"/auth/oidc/callback")
	s := startTestServerWith(t, func(c *serveConfig) {
		c.HTTPAddr = addr
		c.Auth.AnonymousLimit = authn.RateLimit{Rate: 1000, Burst: 1000}
		c.Auth.OIDC = authn.OIDCConfig{Issuer: idp.URL, ClientID: clientID, ClientSecret: clientSecret,
			RedirectURL: base + "/auth/oidc/callback", SuccessURL: base + "/ui/"}
	})
	if _, _, err := s.store.CreateUser(context.Background(), authn.NewUser{Tenant: "acme", Email: "carol@example.com", Role: authn.RoleMember}); err != nil {
		t.Fatal(err)
	}
	idp.signInAs(opUser{ID: "idp-carol", Email: "carol@example.com", EmailVerified: true, Name: "Carol"})
	dir := screenshotDir(t)

	step, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var location, stored string
	err := chromedp.Do(step,
		chromedp.Navigate(base+"/ui/"), chromedp.WaitVisible(chromedp.CSS(`#sso`)), shot(t, dir, "sso-1-sign-in"),
		chromedp.Click(chromedp.CSS(`#sso`)),
		waitText(`header .who`, "carol@example.com"), waitJS(`!!document.querySelector('#traces, main .state-empty')`),
		into(&location, chromedp.Location()),
		into(&stored, chromedp.Evaluate[string](`sessionStorage.getItem('telemetryd.session') || ''`)),
		shot(t, dir, "sso-2-signed-in"))
	if err != nil {
		body, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
		t.Fatalf("sign in with SSO: %v\npage text:\n%s\nbrowser problems: %v", err, body, problems())
	}
	if strings.Contains(location, "token") || location != base+"/ui/#/traces" {
		t.Errorf("after SSO the address is %s, want %s/ui/#/traces without the tokens", location, base)
	}
	if !strings.Contains(stored, `"refresh":"`) {
		t.Errorf("the session was not stored: %q", stored)
	}
	if p := problems(); len(p) > 0 {
		t.Fatalf("the browser reported problems: %v", p)
	}
}
