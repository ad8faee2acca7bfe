// MCP: per-tool calls, error rate and latency percentiles, sessions (each opens its
// calls in order in the traces list), and the services seen.
import { h, fmtTime, fmtMs, state, attrsTable } from './dom.js';
import * as api from './api.js';
import { href, setParams, timeWindow } from './app.js';
import { runQuery } from './query.js';
import { keepRange } from './traces.js';

const toolSorts = [['calls', 'Calls'], ['errors', 'Errors'], ['error_rate', 'Error rate'], ['p95_ms', 'p95'], ['tool_name', 'Tool']];

export function mcpPage(main, r) {
  const p = r.params;
  const tools = h('div', { class: 'results' }), sessions = h('div', { class: 'results' }), resources = h('div', { class: 'results' });
  const sortSel = h('select', { 'aria-label': 'Sort tools by', onchange: (e) => setParams({ tool_sort: e.target.value }) },
    toolSorts.map(([v, t]) => h('option', { value: v, selected: (p.get('tool_sort') || 'calls') === v }, 'Sort: ' + t)));
  main.append(h('h1', {}, 'MCP'),
    h('section', {}, h('div', { class: 'title-row' }, h('h2', {}, 'Tools'), sortSel), tools),
    h('section', {}, h('h2', {}, 'Sessions'), sessions),
    h('section', {}, h('h2', {}, 'Services'), resources));
  const win = timeWindow(p);
  const stops = [
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
