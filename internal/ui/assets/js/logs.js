// Logs: search (severity, body text, attributes, trace id, service) paged by
// offset, and a live tail of new logs over /telemetry/tail.
import { h, fmtTime, parseAttrs, state, attrsTable, count } from './dom.js';
import * as api from './api.js';
import { href, setParams, timeWindow } from './app.js';
import { runQuery, filterForm, serviceOptions } from './query.js';
import { keepRange } from './traces.js';

const PAGE = 100;
const TAIL_MAX = 500; // rows kept in the live view
const severities = ['', 'trace', 'debug', 'info', 'warn', 'error', 'fatal'];

export function logsPage(main, r) {
  const p = r.params;
  const form = filterForm(p, [
    { name: 'service', label: 'Service', options: [['', 'All services']].concat(p.get('service') ? [[p.get('service'), p.get('service')]] : []) },
    { name: 'severity', label: 'Min severity', options: severities.map((s) => [s, s || 'Any']) },
    { name: 'q', label: 'Body contains', placeholder: 'timeout' },
    { name: 'trace_id', label: 'Trace id', placeholder: '32 hex characters' },
    { name: 'attrs', label: 'Attributes', placeholder: 'key=value', wide: true },
  ], (v) => setParams({ ...v, offset: '' }));
  serviceOptions(api, form.elements.service, p.get('service'));
  const results = h('div', { class: 'results' });
  const live = h('div', { class: 'live', hidden: true });
  let stopTail = null;
  const tailButton = h('button', { type: 'button', id: 'tail', 'aria-pressed': 'false', onclick: () => (stopTail ? endTail() : startTail()) }, 'Live tail');
  main.append(h('div', { class: 'title-row' }, h('h1', {}, 'Logs'), tailButton), form, live, results);

  const filters = () => {
    const q = new URLSearchParams();
    if (p.get('service')) q.set('service_name', p.get('service'));
    if (p.get('severity')) q.set('min_severity', p.get('severity'));
    if (p.get('q')) q.set('body_contains', p.get('q'));
    if (p.get('trace_id')) q.set('trace_id', p.get('trace_id'));
    for (const [k, v] of parseAttrs(p.get('attrs'))) q.append('attr.' + k, v);
    return q;
  };

  function startTail() {
    const q = new URLSearchParams({ signal: 'logs' });
    if (p.get('service')) q.set('service_name', p.get('service'));
    const status = h('span', { class: 'muted', id: 'tail-status', role: 'status' }, 'Connecting…');
    const tbody = h('tbody', {});
    const needle = (p.get('q') || '').toLowerCase();
    live.hidden = false;
    live.replaceChildren(h('h2', {}, 'Live ', status), h('div', { class: 'scroll' }, h('table', { class: 'list', id: 'tail-table' }, head(), tbody)));
    tailButton.textContent = 'Stop tail';
    tailButton.setAttribute('aria-pressed', 'true');
    stopTail = api.tail(q, (ev) => {
      if (ev.event !== 'logs') return;
      let items = [];
      try { items = JSON.parse(ev.data); } catch { return; }
      for (const l of items) {
        if (needle && !(l.body || '').toLowerCase().includes(needle)) continue;
        tbody.prepend(logRow({ ...l, timestamp: l.time }, p));
      }
      while (tbody.children.length > TAIL_MAX) tbody.lastChild.remove();
    }, (s) => {
      status.textContent = { open: 'connected, waiting for new logs', retrying: 'connection lost, resuming…', closed: 'stopped' }[s] || s;
    });
  }
  function endTail() {
    if (stopTail) stopTail();
    stopTail = null;
    tailButton.textContent = 'Live tail';
    tailButton.setAttribute('aria-pressed', 'false');
  }
  if (p.get('live') === '1') startTail();

  const offset = Number(p.get('offset')) || 0;
  const query = new URLSearchParams({ ...timeWindow(p), limit: String(PAGE), offset: String(offset) });
  for (const [k, v] of filters()) query.append(k, v);
  const cancel = runQuery(results, (signal) => api.api('/telemetry/fetch_logs', { query, signal }), (d) => {
    if (!d.logs.length) { results.append(state('empty', 'No logs match in this time range.')); return; }
    results.append(h('p', { class: 'muted' }, count(d.total_count, 'log')),
      h('div', { class: 'scroll' }, h('table', { class: 'list', id: 'logs' }, head(), h('tbody', {}, d.logs.map((l) => logRow(l, p))))),
      h('div', { class: 'pager' },
        offset > 0 ? h('button', { type: 'button', onclick: () => setParams({ offset: String(Math.max(0, offset - PAGE)) }) }, '← Newer') : null,
        offset + PAGE < d.total_count ? h('button', { type: 'button', onclick: () => setParams({ offset: String(offset + PAGE) }) }, 'Older →') : null));
  });
  return () => { cancel(); endTail(); };
}

function head() {
  return h('thead', {}, h('tr', {}, ['Time', 'Severity', 'Service', 'Body', 'Trace'].map((t) => h('th', { scope: 'col' }, t))));
}

function logRow(l, p) {
  const sev = (l.severity_text || '').toLowerCase();
  const body = h('td', { class: 'body' }, h('details', {}, h('summary', {}, l.body),
    h('h4', {}, 'Attributes'), attrsTable(l.attributes), h('h4', {}, 'Resource'), attrsTable(l.resource_attributes)));
  return h('tr', {},
    h('td', { class: 'nowrap' }, fmtTime(l.timestamp)),
    h('td', {}, h('span', { class: 'badge sev-' + sev.replace(/[^a-z]/g, '') }, l.severity_text || l.severity_number)),
    h('td', {}, l.service_name), body,
    h('td', {}, l.trace_id ? h('a', { href: href('trace', l.trace_id, keepRange(p)) }, l.trace_id.slice(0, 8) + '…') : ''));
}
