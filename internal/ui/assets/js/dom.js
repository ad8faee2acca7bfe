// Tiny DOM helpers: the UI builds elements with h() instead of HTML strings, so no
// text ever becomes markup and the CSP needs no 'unsafe-inline'.

export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = v;
    // checked and selected also set the defaults, which a form's reset() returns to.
    else if (k === 'checked') el.checked = el.defaultChecked = !!v;
    else if (k === 'selected') el.selected = el.defaultSelected = !!v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : v);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : String(c));
  }
}

export function mount(parent, ...children) {
  parent.replaceChildren();
  append(parent, children);
  return parent;
}

export const fmtTime = (t) => {
  if (!t) return '—';
  const d = new Date(t);
  return isNaN(d) ? String(t) : d.toLocaleString(undefined, { hour12: false });
};

export const fmtMs = (ms) => {
  if (ms === undefined || ms === null) return '—';
  if (ms === 0) return '0 ms';
  if (ms < 1) return (ms * 1000).toFixed(0) + ' µs';
  if (ms < 1000) return ms.toFixed(ms < 10 ? 2 : 0) + ' ms';
  return (ms / 1000).toFixed(2) + ' s';
};

// state renders the loading / empty / error line of a panel.
export function state(kind, text) {
  return h('p', { class: 'state state-' + kind, role: kind === 'error' ? 'alert' : 'status' },
    kind === 'loading' ? h('span', { class: 'spinner', 'aria-hidden': 'true' }) : null, text);
}

export function attrsTable(attrs) {
  const keys = Object.keys(attrs || {}).sort();
  if (!keys.length) return h('p', { class: 'muted' }, 'none');
  return h('table', { class: 'kv' }, h('tbody', {}, keys.map((k) =>
    h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, attrs[k])))));
}

// parseAttrs reads "k=v, k2=v2" into [[k, v], ...].
export function parseAttrs(text) {
  return (text || '').split(/[,\n]/).map((s) => s.trim()).filter(Boolean).map((s) => {
    const i = s.indexOf('=');
    return i < 0 ? [s, ''] : [s.slice(0, i).trim(), s.slice(i + 1).trim()];
  });
}

export async function copy(text, button) {
  try {
    await navigator.clipboard.writeText(text);
    button.textContent = 'Copied';
  } catch {
    button.textContent = 'Select and copy';
  }
}

// count says "1 trace", "3 traces".
export const count = (n, noun) => `${n} ${noun}${n === 1 ? '' : 's'}`;
