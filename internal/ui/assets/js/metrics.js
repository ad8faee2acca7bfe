// Metrics: pick a metric, chart it over time with a step and an aggregation,
// grouped by service or an attribute; histograms chart as percentiles.
import { h, state } from './dom.js';
import * as api from './api.js';
import { setParams, timeWindow } from './app.js';
import { runQuery, filterForm } from './query.js';
import { lineChart } from './chart.js';

const aggs = ['avg', 'sum', 'min', 'max', 'count', 'rate', 'p50', 'p90', 'p99'];
const steps = ['1m', '5m', '15m', '1h', '1d'];

export function metricsPage(main, r) {
  const p = r.params;
  const form = filterForm(p, [
    { name: 'metric', label: 'Metric', list: 'metric-names', placeholder: 'http.server.duration' },
    { name: 'step', label: 'Step', options: steps.map((s) => [s, s]) },
    { name: 'agg', label: 'Aggregation', options: aggs.map((a) => [a, a]) },
    { name: 'group', label: 'Group by', placeholder: 'service_name or attr.key' },
  ], (v) => setParams(v));
  const names = h('datalist', { id: 'metric-names' });
  const results = h('div', { class: 'results' });
  main.append(h('h1', {}, 'Metrics'), form, names, results);
  api.api('/telemetry/fetch_metric_names', { query: timeWindow(p) }).then((d) => {
    for (const m of d.metrics) names.append(h('option', { value: m.metric_name }, m.type));
    if (!p.get('metric') && d.metrics.length) form.elements.metric.placeholder = d.metrics[0].metric_name;
  }).catch(() => {});

  const metric = p.get('metric');
  if (!metric) { results.append(state('empty', 'Pick a metric to chart it.')); return null; }
  const query = { ...timeWindow(p), metric_name: metric, step: p.get('step') || '1m', agg: p.get('agg') || 'avg' };
  if (p.get('group')) query.group_by = p.get('group');
  return runQuery(results, (signal) => api.api('/telemetry/fetch_metrics', { query, signal }), (d) => {
    if (!d.series.length) { results.append(state('empty', `No points of ${metric} in this time range.`)); return; }
    const label = (s) => [s.service_name, ...Object.entries(s.attributes || {}).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(' ') || s.metric_name;
    const series = d.series.map((s) => ({ label: label(s), points: s.points }));
    results.append(
      h('p', { class: 'muted' }, `${metric} · ${d.metric_type} · ${d.agg} per ${d.step}`, d.truncated ? ' · only the first 100 series' : ''),
      h('div', { class: 'chart-box', id: 'metric-chart' }, lineChart(series, { format: (v) => (Math.abs(v) >= 1000 ? v.toExponential(2) : (+v.toFixed(3)).toString()) })),
      h('ul', { class: 'legend' }, series.map((s, i) => h('li', {}, h('span', { class: 'swatch c' + (i % 8) }), s.label))));
  });
}
