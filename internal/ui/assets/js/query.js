// runQuery shows progress while a query runs (elapsed seconds and a Cancel
// button), then hands the answer to draw, or shows the error.
import { h, mount, state } from './dom.js';

export function runQuery(el, fetcher, draw) {
  const ctl = new AbortController();
  const started = Date.now();
  const label = h('span', {}, 'Loading…');
  const tick = setInterval(() => { label.textContent = `Running query… ${Math.round((Date.now() - started) / 1000)} s`; }, 1000);
  mount(el, h('div', { class: 'state state-loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), label, ' ',
    h('button', { type: 'button', class: 'link', onclick: () => ctl.abort() }, 'Cancel')));
  fetcher(ctl.signal).then((data) => {
    clearInterval(tick);
    mount(el);
    draw(data);
  }, (err) => {
    clearInterval(tick);
    if (err.status === 401) return; // the shell shows the session-expired form
    mount(el, state('error', err.name === 'AbortError' ? 'Query cancelled.' : 'Could not load: ' + err.message));
  });
  return () => { clearInterval(tick); ctl.abort(); };
}

// filterForm builds a form whose fields mirror URL parameters; submitting writes
// them to the URL, which re-renders the page.
export function filterForm(params, fields, onApply) {
  const form = h('form', { class: 'filters', role: 'search', onsubmit: (e) => {
    e.preventDefault();
    const out = {};
    for (const f of fields) out[f.name] = form.elements[f.name].value.trim();
    onApply(out);
  } },
  fields.map((f) => h('label', { class: f.wide ? 'wide' : '' }, f.label,
    f.options
      ? h('select', { name: f.name }, f.options.map(([v, t]) => h('option', { value: v, selected: (params.get(f.name) || '') === v }, t)))
      : h('input', { name: f.name, type: f.type || 'text', placeholder: f.placeholder || '', value: params.get(f.name) || '', list: f.list || null, min: f.min || null }))),
  h('button', { type: 'submit', class: 'primary' }, 'Apply'));
  return form;
}

// services fills a select with the services the tenant has, once they are known.
export function serviceOptions(api, select, current) {
  api.api('/telemetry/fetch_resources', { query: { limit: 200 } }).then((d) => {
    const names = [...new Set(d.resources.map((r) => r.service_name))].sort();
    for (const n of names) if (n !== current) select.append(h('option', { value: n }, n));
  }).catch(() => {});
}
