// Trace view: a waterfall of every span (up to the API's 10 000), rendered
// virtually: only the rows in view exist in the DOM, so a large trace scrolls as
// smoothly as a small one. Arrow keys move the selection; the details panel shows
// the selected span's attributes, events, links and resource.
import { h, mount, fmtTime, fmtMs, attrsTable, state, count } from './dom.js';
import * as api from './api.js';
import { href } from './app.js';
import { runQuery } from './query.js';
import { keepRange } from './traces.js';

const ROW = 26; // px; must match .wf-row height in app.css
const OVERSCAN = 12;

export function tracePage(main, r) {
  const id = r.arg;
  const body = h('div', {});
  main.append(h('p', {}, h('a', { href: href('traces', '', keepRange(r.params)) }, '← Traces')), h('h1', {}, 'Trace ', h('code', {}, id)), body);
  let stop = () => {};
  const cancel = runQuery(body, (signal) => api.api('/telemetry/traces/' + encodeURIComponent(id), { signal }), (d) => {
    if (!d.spans.length) { body.append(state('empty', 'This trace has no spans.')); return; }
    stop = waterfall(body, d, r.params);
  });
  return () => { cancel(); stop(); };
}

// order returns the spans depth-first (children by start time) with their depth.
// Spans whose parent is missing are roots.
function order(spans) {
  const byId = new Map(spans.map((s) => [s.span_id, s]));
  const kids = new Map();
  const roots = [];
  for (const s of spans) {
    if (s.parent_span_id && byId.has(s.parent_span_id) && s.parent_span_id !== s.span_id) {
      if (!kids.has(s.parent_span_id)) kids.set(s.parent_span_id, []);
      kids.get(s.parent_span_id).push(s);
    } else roots.push(s);
  }
  const out = [];
  const seen = new Set();
  const stack = roots.slice().reverse().map((s) => [s, 0]);
  while (stack.length) {
    const [s, depth] = stack.pop();
    if (seen.has(s.span_id)) continue;
    seen.add(s.span_id);
    const c = kids.get(s.span_id) || [];
    out.push({ span: s, depth, kids: c.length });
    for (let i = c.length - 1; i >= 0; i--) stack.push([c[i], depth + 1]);
  }
  // size: how many spans a row's subtree hides when collapsed.
  const open = [];
  for (let i = 0; i <= out.length; i++) {
    while (open.length && (i === out.length || out[open[open.length - 1]].depth >= out[i].depth)) {
      const j = open.pop();
      out[j].size = i - j - 1;
    }
    if (i < out.length) open.push(i);
  }
  return out;
}

function waterfall(body, d, params) {
  const all = order(d.spans);
  let rows = all;
  const collapsed = new Set(); // span ids whose subtrees are hidden
  const t0 = Math.min(...d.spans.map((s) => Date.parse(s.start_time)));
  const t1 = Math.max(...d.spans.map((s) => Date.parse(s.end_time)));
  const total = Math.max(t1 - t0, 0.001);
  const services = [...new Set(d.spans.map((s) => s.service_name))];
  let selected = 0;

  const inner = h('div', { class: 'wf-inner' });
  // visible recomputes the rows shown: every span but the descendants of collapsed ones.
  const visible = () => {
    const id = rows[selected] && rows[selected].span.span_id;
    rows = [];
    let hideBelow = Infinity;
    for (const r of all) {
      if (r.depth > hideBelow) continue;
      hideBelow = collapsed.has(r.span.span_id) ? r.depth : Infinity;
      rows.push(r);
    }
    inner.style.height = rows.length * ROW + 'px';
    selected = Math.max(0, rows.findIndex((r) => r.span.span_id === id));
  };
  inner.style.height = rows.length * ROW + 'px';
  const toggle = (i, open) => {
    const id = rows[i].span.span_id;
    if (!rows[i].kids || open === !collapsed.has(id)) return false;
    if (open) collapsed.delete(id); else collapsed.add(id);
    selected = i;
    visible();
    select(selected, true);
    return true;
  };
  const find = h('input', { type: 'search', id: 'span-find', placeholder: 'Find span (Enter: next)', 'aria-label': 'Find a span by name, service or id',
    onkeydown: (e) => {
      if (e.key !== 'Enter') return;
      e.preventDefault();
      const needle = find.value.trim().toLowerCase();
      if (!needle) return;
      for (let k = 1; k <= rows.length; k++) {
        const i = (selected + k) % rows.length;
        const sp = rows[i].span;
        if ((sp.name + ' ' + sp.service_name + ' ' + sp.span_id).toLowerCase().includes(needle)) { select(i, true); return; }
      }
      find.setCustomValidity('No visible span matches');
      find.reportValidity();
    }, oninput: () => find.setCustomValidity('') });
  const viewport = h('div', { class: 'wf-viewport', id: 'waterfall', tabindex: '0', role: 'listbox', 'aria-label': 'Spans', onkeydown: onKey }, inner);
  const details = h('aside', { class: 'span-details', id: 'span-details', 'aria-live': 'polite' });
  const ruler = h('div', { class: 'wf-ruler' }, h('span', {}, 'Span'), h('div', { class: 'wf-ticks' },
    [0, 0.25, 0.5, 0.75, 1].map((f) => h('span', {}, fmtMs(total * f)))));
  body.append(
    h('p', { class: 'muted' }, `${count(d.span_count, 'span')} · ${count(services.length, 'service')} · ${fmtMs(total)} · started ${fmtTime(t0)}`,
      d.truncated ? h('strong', {}, ' · truncated to the first 10 000 spans') : null),
    h('div', { class: 'wf-tools' }, find, h('span', { class: 'muted' }, '↑ ↓ move · ← → collapse / expand')),
    h('div', { class: 'trace-layout' }, h('div', { class: 'wf' }, ruler, viewport), details));

  let frame = 0;
  const draw = () => {
    frame = 0;
    const first = Math.max(0, Math.floor(viewport.scrollTop / ROW) - OVERSCAN);
    const last = Math.min(rows.length, Math.ceil((viewport.scrollTop + viewport.clientHeight) / ROW) + OVERSCAN);
    const els = [];
    for (let i = first; i < last; i++) els.push(row(i));
    inner.replaceChildren(...els);
  };
  const schedule = () => { if (!frame) frame = requestAnimationFrame(draw); };

  function row(i) {
    const { span: s, depth, kids } = rows[i];
    const start = Date.parse(s.start_time) - t0;
    const bar = h('div', { class: 'wf-bar svc-' + (services.indexOf(s.service_name) % 8) + (s.status_code === 'error' ? ' err' : '') });
    bar.style.left = (start / total) * 100 + '%';
    bar.style.width = Math.max((s.duration_ms / total) * 100, 0.2) + '%';
    const twisty = kids ? h('span', { class: 'twisty', 'aria-hidden': 'true', onclick: (e) => { e.stopPropagation(); toggle(i, collapsed.has(s.span_id)); } },
      collapsed.has(s.span_id) ? '▸' : '▾') : h('span', { class: 'twisty' });
    const name = h('div', { class: 'wf-name' }, twisty, h('span', { class: 'svc' }, s.service_name), ' ', s.name,
      collapsed.has(s.span_id) ? h('span', { class: 'muted' }, ` (+${rows[i].size} hidden)`) : null);
    name.style.paddingLeft = 4 + Math.min(depth, 30) * 12 + 'px';
    const el = h('div', { class: 'wf-row' + (i === selected ? ' selected' : ''), role: 'option', 'aria-selected': i === selected ? 'true' : 'false',
      'aria-expanded': kids ? String(!collapsed.has(s.span_id)) : null,
      'data-span-id': s.span_id, onclick: () => select(i) },
    name, h('div', { class: 'wf-track' }, bar, h('span', { class: 'wf-dur' }, fmtMs(s.duration_ms))));
    el.style.top = i * ROW + 'px';
    return el;
  }

  function select(i, scroll) {
    selected = Math.max(0, Math.min(rows.length - 1, i));
    if (scroll) {
      const top = selected * ROW;
      if (top < viewport.scrollTop) viewport.scrollTop = top;
      else if (top + ROW > viewport.scrollTop + viewport.clientHeight) viewport.scrollTop = top + ROW - viewport.clientHeight;
    }
    draw();
    showDetails(details, rows[selected].span, t0, params);
  }

  function onKey(e) {
    const page = Math.max(1, Math.floor(viewport.clientHeight / ROW) - 1);
    const moves = { ArrowDown: 1, ArrowUp: -1, PageDown: page, PageUp: -page, Home: -rows.length, End: rows.length };
    if (e.key in moves) { e.preventDefault(); select(selected + moves[e.key], true); return; }
    if (e.key === 'ArrowLeft') {
      e.preventDefault();
      if (!toggle(selected, false)) { // collapsed or a leaf: go to the parent
        const depth = rows[selected].depth;
        for (let i = selected - 1; i >= 0; i--) if (rows[i].depth < depth) { select(i, true); break; }
      }
    } else if (e.key === 'ArrowRight') {
      e.preventDefault();
      toggle(selected, true);
    }
  }

  viewport.addEventListener('scroll', schedule, { passive: true });
  window.addEventListener('resize', schedule);
  select(0);
  return () => { window.removeEventListener('resize', schedule); if (frame) cancelAnimationFrame(frame); };
}

function showDetails(el, s, t0, params) {
  const fields = [['Service', s.service_name], ['Kind', s.kind], ['Status', s.status_code + (s.status_message ? ': ' + s.status_message : '')],
    ['Duration', fmtMs(s.duration_ms)], ['Start', fmtTime(s.start_time)], ['Span id', s.span_id], ['Parent', s.parent_span_id || '—'], ['Scope', s.scope_name || '—']];
  mount(el,
    h('h2', {}, s.name),
    h('table', { class: 'kv' }, h('tbody', {}, fields.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, v))))),
    h('h3', {}, 'Attributes'), attrsTable(s.attributes),
    h('h3', {}, `Events (${(s.events || []).length})`),
    (s.events || []).length ? h('ul', { class: 'events' }, s.events.map((ev) => h('li', {},
      h('strong', {}, ev.name), ' +', fmtMs(Date.parse(ev.time) - t0), attrsTable(ev.attributes)))) : h('p', { class: 'muted' }, 'none'),
    h('h3', {}, `Links (${(s.links || []).length})`),
    (s.links || []).length ? h('ul', {}, s.links.map((l) => h('li', {},
      h('a', { href: href('trace', l.trace_id, keepRange(params)) }, l.trace_id), ' / ', l.span_id, attrsTable(l.attributes)))) : h('p', { class: 'muted' }, 'none'),
    h('h3', {}, 'Resource'), attrsTable(s.resource_attributes),
    h('p', {}, h('a', { href: href('logs', '', new URLSearchParams({ ...Object.fromEntries(keepRange(params)), trace_id: s.trace_id })) }, 'Logs of this trace →')));
}
