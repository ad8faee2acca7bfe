// The shell: hash routes (#/traces?range=1h&...), so every view, filter and time
// range is a shareable link; the header with navigation, time range and sign-out;
// and the session-expired message.
import { h, mount } from './dom.js';
import * as api from './api.js';
import { loginPage } from './login.js';
import { tracesPage } from './traces.js';
import { tracePage } from './trace.js';
import { logsPage } from './logs.js';
import { metricsPage } from './metrics.js';
import { mcpPage } from './mcp.js';
import { settingsPage } from './settings.js';

const pages = {
  traces: { title: 'Traces', render: tracesPage },
  trace: { title: 'Trace', render: tracePage, hidden: true },
  logs: { title: 'Logs', render: logsPage },
  metrics: { title: 'Metrics', render: metricsPage },
  mcp: { title: 'MCP', render: mcpPage },
  settings: { title: 'Settings', render: settingsPage },
};

export const ranges = [['15m', 15], ['1h', 60], ['6h', 360], ['24h', 1440], ['7d', 10080], ['30d', 43200]];

// route reads the hash: page name, path argument and query parameters.
export function route() {
  const [path, qs] = location.hash.replace(/^#\/?/, '').split('?');
  const [name, ...rest] = path.split('/');
  return { name: name || 'traces', arg: rest.map(decodeURIComponent).join('/'), params: new URLSearchParams(qs || '') };
}

export function href(name, arg, params) {
  const qs = params && params.toString();
  return '#/' + name + (arg ? '/' + encodeURIComponent(arg) : '') + (qs ? '?' + qs : '');
}

// setParams replaces some query parameters of the current route (empty removes).
export function setParams(changes) {
  const r = route();
  for (const [k, v] of Object.entries(changes)) {
    if (v === '' || v === null || v === undefined) r.params.delete(k);
    else r.params.set(k, v);
  }
  location.hash = href(r.name, r.arg, r.params);
}

// timeWindow turns the URL's range (relative, like 1h) or from/to (unix ms) into
// the API's start_time and end_time.
export function timeWindow(params) {
  const from = Number(params.get('from')), to = Number(params.get('to'));
  if (from && to && to > from) return { start_time: String(from), end_time: String(to) };
  const minutes = (ranges.find(([k]) => k === params.get('range')) || ranges[1])[1];
  const end = Date.now() + 1000;
  return { start_time: String(end - minutes * 60000), end_time: String(end) };
}

// sharedParams are the parameters kept when moving between pages.
const shared = ['range', 'from', 'to'];
function keep(params) {
  const p = new URLSearchParams();
  for (const k of shared) if (params.has(k)) p.set(k, params.get(k));
  return p;
}

function rangePicker(params) {
  const custom = params.get('from') && params.get('to');
  const sel = h('select', { 'aria-label': 'Time range', id: 'range', onchange: (e) => setParams({ range: e.target.value, from: '', to: '' }) },
    ranges.map(([k]) => h('option', { value: k, selected: !custom && (params.get('range') || '1h') === k }, 'Last ' + k)),
    custom ? h('option', { value: '', selected: true }, 'Custom') : null);
  // Pin turns "the last hour" into the exact window it is now, so a link shows the
  // same data to whoever opens it later.
  const pin = custom
    ? h('span', { class: 'pinned', title: 'This link shows a fixed time range' },
      new Date(Number(params.get('from'))).toLocaleString(undefined, { hour12: false }), ' – ',
      new Date(Number(params.get('to'))).toLocaleString(undefined, { hour12: false }))
    : h('button', { type: 'button', id: 'pin', title: 'Make the link show exactly this time range', onclick: () => {
      const w = timeWindow(params);
      setParams({ from: w.start_time, to: w.end_time, range: '' });
    } }, 'Pin');
  return h('div', { class: 'range' }, sel, pin);
}

let cleanup = null;
let user = null;
const root = document.getElementById('app');

async function render() {
  if (cleanup) { cleanup(); cleanup = null; }
  takeSSOTokens();
  const r = route();
  if (!api.signedIn()) {
    user = null;
    mount(root, loginPage(() => { location.hash = href('traces'); render(); }));
    return;
  }
  if (!user) {
    try { user = await api.api('/auth/fetch_user'); } catch (err) { if (err.status === 401) return; user = { user: {}, permissions: [] }; }
  }
  const page = pages[r.name] || pages.traces;
  const main = h('main', { id: 'main', tabindex: '-1' });
  const nav = h('nav', { 'aria-label': 'Pages' }, Object.entries(pages).filter(([, p]) => !p.hidden).map(([name, p]) =>
    h('a', { href: href(name, '', keep(r.params)), 'aria-current': (name === r.name || (name === 'traces' && r.name === 'trace')) ? 'page' : null }, p.title)));
  const who = (user.user && (user.user.email || user.user.id)) || '';
  mount(root,
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, 'Skip to content'),
    h('header', {},
      h('a', { class: 'brand', href: href('traces', '', keep(r.params)) }, 'telemetryd'),
      nav, rangePicker(r.params),
      h('span', { class: 'who', title: who }, who),
      h('button', { type: 'button', id: 'signout', onclick: signOut }, 'Sign out')),
    main);
  document.title = page.title + ' · telemetryd';
  cleanup = page.render(main, r, { user }) || null;
}

async function signOut() {
  await api.logout();
  user = null;
  location.hash = '';
  render();
}

// takeSSOTokens picks up the token pair that /auth/oidc/callback put in the hash
// (--oidc-success-url pointing at /ui/) and removes it from the address bar.
function takeSSOTokens() {
  const p = new URLSearchParams(location.hash.replace(/^#/, ''));
  if (p.get('access_token') && p.get('refresh_token')) {
    api.setSession({ access_token: p.get('access_token'), refresh_token: p.get('refresh_token') });
    history.replaceState(null, '', location.pathname + '#/traces');
  }
}

// A blocked resource is a bug of the UI: say so where tests and developers look.
document.addEventListener('securitypolicyviolation', (e) => console.error('CSP violation:', e.violatedDirective, e.blockedURI));
window.addEventListener('hashchange', render);
window.addEventListener('session-expired', () => {
  user = null;
  if (cleanup) { cleanup(); cleanup = null; }
  mount(root, loginPage(() => render(), 'Your session expired. Sign in again to continue where you were.'));
});
render();
