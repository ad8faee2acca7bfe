// Traces: the list (filters, sort and cursor paging all in the URL).
import { h, fmtTime, fmtMs, parseAttrs, state, count } from './dom.js';
import * as api from './api.js';
import { href, setParams, timeWindow } from './app.js';
import { runQuery, filterForm, serviceOptions } from './query.js';

const sortable = [['start_time', 'Start'], ['duration', 'Duration'], ['span_count', 'Spans']];

export function tracesPage(main, r) {
  const p = r.params;
  const form = filterForm(p, [
    { name: 'service', label: 'Service', options: [['', 'All services']].concat(p.get('service') ? [[p.get('service'), p.get('service')]] : []) },
    { name: 'status', label: 'Status', options: [['', 'Any'], ['ok', 'OK'], ['error', 'Error'], ['unset', 'Unset']] },
    { name: 'name', label: 'Operation contains', placeholder: 'tools/call' },
    { name: 'min_ms', label: 'Min duration (ms)', type: 'number', min: '0' },
    { name: 'max_ms', label: 'Max duration (ms)', type: 'number', min: '0' },
    { name: 'attrs', label: 'Attributes', placeholder: 'key=value, key2=value', wide: true },
  ], (v) => setParams({ ...v, cursor: '' }));
  serviceOptions(api, form.elements.service, p.get('service'));
  const results = h('div', { class: 'results' });
  main.append(h('h1', {}, 'Traces'), form, results);

  const q = { ...timeWindow(p), limit: p.get('limit') || '50', sort: p.get('sort') || 'start_time', sortDirection: p.get('dir') || 'desc' };
  const opt = { service: 'service_name', status: 'status', name: 'name_contains', min_ms: 'min_duration_ms', max_ms: 'max_duration_ms', cursor: 'cursor' };
  for (const [k, name] of Object.entries(opt)) if (p.get(k)) q[name] = p.get(k);
  const query = new URLSearchParams(q);
  for (const [k, v] of parseAttrs(p.get('attrs'))) query.append('attr.' + k, v);

  return runQuery(results, (signal) => api.api('/telemetry/fetch_traces', { query, signal }), (d) => {
    if (!d.traces.length) {
      results.append(state('empty', p.get('cursor') ? 'No more traces.' : 'No traces in this time range. Widen the range or clear the filters.'));
      return;
    }
    const header = ([key, label]) => {
      const active = q.sort === key;
      const next = active && q.sortDirection === 'desc' ? 'asc' : 'desc';
      return h('th', { scope: 'col', 'aria-sort': active ? (q.sortDirection === 'asc' ? 'ascending' : 'descending') : null },
        h('button', { type: 'button', class: 'sort', onclick: () => setParams({ sort: key, dir: next, cursor: '' }) },
          label, active ? (q.sortDirection === 'asc' ? ' ▲' : ' ▼') : ''));
    };
    results.append(
      h('p', { class: 'muted' }, count(d.total_count, 'trace')),
      h('div', { class: 'scroll' }, h('table', { class: 'list', id: 'traces' },
        h('thead', {}, h('tr', {}, header(sortable[0]), h('th', { scope: 'col' }, 'Service'), h('th', { scope: 'col' }, 'Operation'),
          h('th', { scope: 'col' }, 'Status'), header(sortable[1]), header(sortable[2]))),
        h('tbody', {}, d.traces.map((t) => h('tr', { class: t.status === 'error' ? 'error' : '' },
          h('td', {}, fmtTime(t.start_time)), h('td', {}, t.service_name),
          h('td', {}, h('a', { href: href('trace', t.trace_id, keepRange(p)), class: 'trace-link' }, t.operation_name || t.trace_id)),
          h('td', {}, h('span', { class: 'badge ' + t.status }, t.status)), h('td', { class: 'num' }, fmtMs(t.duration_ms)),
          h('td', { class: 'num' }, t.span_count)))))),
      h('div', { class: 'pager' },
        p.get('cursor') ? h('button', { type: 'button', onclick: () => history.back() }, '← Previous') : null,
        p.get('cursor') ? h('button', { type: 'button', onclick: () => setParams({ cursor: '' }) }, 'First page') : null,
        d.next_cursor ? h('button', { type: 'button', id: 'next', onclick: () => setParams({ cursor: d.next_cursor }) }, 'Next →') : null));
  });
}

export function keepRange(p) {
  const out = new URLSearchParams();
  for (const k of ['range', 'from', 'to']) if (p.get(k)) out.set(k, p.get(k));
  return out;
}
