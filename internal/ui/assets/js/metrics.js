// Metrics: pick a metric, chart it over time with a step and an aggregation,
// grouped by service or an attribute; histograms chart as percentiles.
import { h, state } from './dom.js';
import * as api from './api.js';
import { setParams, timeWindow } from './app.js';
import { runQuery, filterForm } from './query.js';
import { lineChart } from './chart.js';

// 'percentiles' charts p50, p90 and p99 together: the default for histograms.
const aggs = ['percentiles', 'avg', 'sum', 'min', 'max', 'count', 'rate', 'p50', 'p90', 'p99'];
const steps = ['1m', '5m', '15m', '1h', '1d'];

export function metricsPage(main, r) {
  const p = r.params;
  const form = filterForm(p, [
    { name: 'metric', label: 'Metric', list: 'metric-names', placeholder: 'http.server.duration' },
    { name: 'step', label: 'Step', options: steps.map((s) => [s, s]) },
    { name: 'agg', label: 'Aggregation', options: [['', 'auto']].concat(aggs.map((a) => [a, a])) },
    { name: 'group', label: 'Group by', placeholder: 'service_name or attr.key' },
  ], (v) => setParams(v));
  const names = h('datalist', { id: 'metric-names' });
  const results = h('div', { class: 'results' });
  main.append(h('h1', {}, 'Metrics'), form, names, results);
  const known = api.api('/telemetry/fetch_metric_names', { query: timeWindow(p) });
  known.then((d) => {
    for (const m of d.metrics) names.append(h('option', { value: m.metric_name }, m.type + (m.unit ? ' (' + m.unit + ')' : '')));
    if (!p.get('metric') && d.metrics.length) form.elements.metric.placeholder = d.metrics[0].metric_name;
  }).catch(() => {});

  const metric = p.get('metric');
  if (!metric) { results.append(state('empty', 'Pick a metric to chart it.')); return null; }
  const win = timeWindow(p);
  const query = { ...win, metric_name: metric, step: p.get('step') || '1m' };
  if (p.get('group')) query.group_by = p.get('group');
  // fetchAll asks once per aggregation; "auto" is percentiles for a histogram and
  // avg otherwise (the metric's type comes from the names list).
  const fetchAll = async (signal) => {
    let agg = p.get('agg');
    if (!agg) {
      const m = (await known.catch(() => ({ metrics: [] }))).metrics.find((x) => x.metric_name === metric);
      agg = m && /histogram|summary/.test(m.type) ? 'percentiles' : 'avg';
    }
    const list = agg === 'percentiles' ? ['p50', 'p90', 'p99'] : [agg];
    const answers = await Promise.all(list.map((a) => api.api('/telemetry/fetch_metrics', { query: { ...query, agg: a }, signal })));
    return { list, answers };
  };
  return runQuery(results, fetchAll, ({ list, answers }) => {
    const d = answers[0];
    const label = (s, a) => [list.length > 1 ? a : '', s.service_name, ...Object.entries(s.attributes || {}).map(([k, v]) => `${k}=${v}`)].filter(Boolean).join(' ') || s.metric_name;
    const series = answers.flatMap((ans, i) => ans.series.map((s) => ({ label: label(s, list[i]), points: s.points })));
    if (!series.length) { results.append(state('empty', `No points of ${metric} in this time range.`)); return; }
    results.append(
      h('p', { class: 'muted' }, `${metric} · ${d.metric_type} · ${list.join(', ')} per ${d.step}`, answers.some((a) => a.truncated) ? ' · only the first 100 series' : ''),
      h('div', { class: 'chart-box', id: 'metric-chart' }, lineChart(series, { range: [Number(win.start_time), Number(win.end_time)], format: (v) => (Math.abs(v) >= 1000 ? v.toExponential(2) : (+v.toFixed(3)).toString()) })),
      h('ul', { class: 'legend' }, series.map((s, i) => h('li', {}, h('span', { class: 'swatch c' + (i % 8) }), s.label))));
  });
}
