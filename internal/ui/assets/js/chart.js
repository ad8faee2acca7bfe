// lineChart draws series [{label, points: [{t, v}]}] as an SVG line chart. SVG
// attributes are not inline styles, so the CSP stays strict.
const NS = 'http://www.w3.org/2000/svg';

function s(tag, attrs, ...kids) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  el.append(...kids);
  return el;
}

// The x axis spans range ([start, end] in unix ms) when given, else the points.
export function lineChart(series, { width = 900, height = 280, format = (v) => String(v), range } = {}) {
  const pad = { l: 64, r: 12, t: 10, b: 28 };
  const pts = series.flatMap((x) => x.points);
  const tMin = range ? range[0] : Math.min(...pts.map((p) => p.t));
  const tMax = range ? range[1] : Math.max(...pts.map((p) => p.t));
  const long = tMax - tMin > 36 * 3600e3;
  let vMin = Math.min(0, ...pts.map((p) => p.v)), vMax = Math.max(...pts.map((p) => p.v));
  if (vMax === vMin) vMax = vMin + 1;
  const x = (t) => pad.l + ((t - tMin) / Math.max(tMax - tMin, 1)) * (width - pad.l - pad.r);
  const y = (v) => height - pad.b - ((v - vMin) / (vMax - vMin)) * (height - pad.t - pad.b);
  const svg = s('svg', { viewBox: `0 0 ${width} ${height}`, class: 'chart', role: 'img', 'aria-label': 'Chart of ' + series.map((x) => x.label).join(', ') });
  for (let i = 0; i <= 4; i++) {
    const v = vMin + ((vMax - vMin) * i) / 4;
    svg.append(s('line', { x1: pad.l, x2: width - pad.r, y1: y(v), y2: y(v), class: 'grid' }),
      s('text', { x: pad.l - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, format(v)));
  }
  for (let i = 0; i <= 4; i++) {
    const t = tMin + ((tMax - tMin) * i) / 4;
    const anchor = i === 0 ? 'start' : i === 4 ? 'end' : 'middle';
    svg.append(s('text', { x: x(t), y: height - 8, 'text-anchor': anchor, class: 'axis' },
      long ? new Date(t).toLocaleDateString(undefined, { month: 'short', day: 'numeric' })
        : new Date(t).toLocaleTimeString(undefined, { hour12: false, hour: '2-digit', minute: '2-digit' })));
  }
  series.forEach((ser, i) => {
    const sorted = ser.points.slice().sort((a, b) => a.t - b.t);
    const d = sorted.map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`).join(' ');
    svg.append(s('polyline', { points: d, class: 'line c' + (i % 8) }, s('title', {}, ser.label)));
    if (sorted.length === 1) svg.append(s('circle', { cx: x(sorted[0].t), cy: y(sorted[0].v), r: 3, class: 'dot c' + (i % 8) }));
  });
  return svg;
}
