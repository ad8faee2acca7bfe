// MCP: per-tool calls, error rate and latency percentiles, sessions (each opens its
// calls in order in the traces list), and the services seen.
import { h, fmtTime, fmtMs, state, attrsTable } from './dom.js';
import * as api from './api.js';
import { href, setParams, timeWindow } from './app.js';
import { runQuery } from './query.js';
import { keepRange } from './traces.js';
import { lineChart } from './chart.js';

const measures = [['p95_ms', 'p95 latency'], ['p50_ms', 'p50 latency'], ['p99_ms', 'p99 latency'], ['calls', 'Calls'], ['error_rate', 'Error rate']];

// stepFor picks the coarsest useful bucket for a window (the API allows 1500 points).
function stepFor(win) {
  const hours = (Number(win.end_time) - Number(win.start_time)) / 3600e3;
  return hours <= 6 ? '1m' : hours <= 24 ? '5m' : '1h';
}

const toolSorts = [['calls', 'Calls'], ['errors', 'Errors'], ['error_rate', 'Error rate'], ['p95_ms', 'p95'], ['tool_name', 'Tool']];

export function mcpPage(main, r) {
  const p = r.params;
  const over = h('div', { class: 'results' });
  const measure = p.get('measure') || 'p95_ms';
  const measureSel = h('select', { 'aria-label': 'Chart', onchange: (e) => setParams({ measure: e.target.value }) },
    measures.map(([v, t]) => h('option', { value: v, selected: measure === v }, t)));
  const tools = h('div', { class: 'results' }), sessions = h('div', { class: 'results' }), resources = h('div', { class: 'results' });
  const sortSel = h('select', { 'aria-label': 'Sort tools by', onchange: (e) => setParams({ tool_sort: e.target.value }) },
    toolSorts.map(([v, t]) => h('option', { value: v, selected: (p.get('tool_sort') || 'calls') === v }, 'Sort: ' + t)));
  main.append(h('h1', {}, 'MCP'),
    h('section', {}, h('div', { class: 'title-row' }, h('h2', {}, 'Tools over time'), measureSel), over),
    h('section', {}, h('div', { class: 'title-row' }, h('h2', {}, 'Tools'), sortSel), tools),
    h('section', {}, h('h2', {}, 'Sessions'), sessions),
    h('section', {}, h('h2', {}, 'Services'), resources));
  const win = timeWindow(p);
  const step = stepFor(win);
  const stops = [
    runQuery(over, (signal) => api.api('/telemetry/fetch_tool_series', { query: { ...win, step }, signal }), (d) => {
      if (!d.series.length) { over.append(state('empty', 'No MCP tool calls in this time range.')); return; }
      const ms = measure.endsWith('_ms');
      const series = d.series.map((x) => ({ label: x.tool_name, points: x.points.map((pt) => ({ t: pt.t, v: measure === 'error_rate' ? pt.error_rate * 100 : pt[measure] })) }));
      over.append(
        h('div', { class: 'chart-box', id: 'tool-chart' }, lineChart(series, { range: [Number(win.start_time), Number(win.end_time)],
          format: (v) => (ms ? fmtMs(v) : measure === 'error_rate' ? v.toFixed(0) + ' %' : (+v.toFixed(1)).toString()) })),
        h('ul', { class: 'legend' }, series.map((x, i) => h('li', {}, h('span', { class: 'swatch c' + (i % 8) }), x.label))),
        h('p', { class: 'muted' }, `per ${d.step}`, d.truncated ? ' · the 20 busiest tools' : ''));
    }),
    runQuery(tools, (signal) => api.api('/telemetry/fetch_tools', { query: { ...win, limit: 100, sort: p.get('tool_sort') || 'calls' }, signal }), (d) => {
      if (!d.tools.length) { tools.append(state('empty', 'No MCP tool calls (spans with mcp.tool.name) in this time range.')); return; }
      tools.append(h('div', { class: 'scroll' }, h('table', { class: 'list', id: 'tools' },
        h('thead', {}, h('tr', {}, ['Tool', 'Calls', 'Errors', 'Error rate', 'p50', 'p95', 'p99'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, d.tools.map((t) => h('tr', {},
          h('td', {}, h('a', { href: href('traces', '', new URLSearchParams({ ...Object.fromEntries(keepRange(p)), attrs: 'mcp.tool.name=' + t.tool_name })) }, t.tool_name)),
          h('td', { class: 'num' }, t.calls), h('td', { class: 'num' }, t.errors),
          h('td', { class: 'num' }, (t.error_rate * 100).toFixed(1) + ' %'),
          h('td', { class: 'num' }, fmtMs(t.p50_ms)), h('td', { class: 'num' }, fmtMs(t.p95_ms)), h('td', { class: 'num' }, fmtMs(t.p99_ms))))))));
    }),
    runQuery(sessions, (signal) => api.api('/telemetry/fetch_sessions', { query: { ...win, limit: 50 }, signal }), (d) => {
      if (!d.sessions.length) { sessions.append(state('empty', 'No MCP sessions (mcp.session.id) in this time range.')); return; }
      sessions.append(h('div', { class: 'scroll' }, h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, ['Session', 'Start', 'End', 'Calls', 'Errors', 'Tools'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, d.sessions.map((s) => h('tr', {},
          h('td', {}, h('a', { href: href('traces', '', new URLSearchParams({ ...Object.fromEntries(keepRange(p)), attrs: 'mcp.session.id=' + s.session_id, sort: 'start_time', dir: 'asc' })) }, s.session_id)),
          h('td', {}, fmtTime(s.start_time)), h('td', {}, fmtTime(s.end_time)), h('td', { class: 'num' }, s.calls), h('td', { class: 'num' }, s.errors),
          h('td', {}, (s.tools || []).join(', '))))))));
    }),
    runQuery(resources, (signal) => api.api('/telemetry/fetch_resources', { query: { limit: 100 }, signal }), (d) => {
      if (!d.resources.length) { resources.append(state('empty', 'No services have sent telemetry yet.')); return; }
      resources.append(h('div', { class: 'scroll' }, h('table', { class: 'list' },
        h('thead', {}, h('tr', {}, ['Service', 'Version', 'First seen', 'Last seen', 'Resource'].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, d.resources.map((x) => h('tr', {}, h('td', {}, x.service_name), h('td', {}, x.service_version || '—'),
          h('td', {}, fmtTime(x.first_seen)), h('td', {}, fmtTime(x.last_seen)),
          h('td', {}, h('details', {}, h('summary', {}, Object.keys(x.attributes || {}).length + ' attributes'), attrsTable(x.attributes)))))))));
    }),
  ];
  return () => stops.forEach((s) => s());
}
