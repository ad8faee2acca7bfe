// Settings: ingest tokens and API keys (create with the secret shown once, rotate
// with a grace period, revoke), and users and roles for admins.
import { h, mount, fmtTime, state, copy } from './dom.js';
import * as api from './api.js';

const expiries = [['0', 'Never'], ['86400', '1 day'], ['2592000', '30 days'], ['7776000', '90 days'], ['31536000', '1 year']];
const graces = [['0', 'Old secret stops now'], ['3600', 'Old secret works 1 hour'], ['86400', 'Old secret works 1 day'], ['604800', 'Old secret works 7 days']];

export function settingsPage(main, r, { user }) {
  const perms = user.permissions || [];
  main.append(h('h1', {}, 'Settings'));
  if (perms.includes('tokens:write')) main.append(credentialSection(tokenKind));
  if (perms.includes('apikeys:write')) main.append(credentialSection(keyKind));
  if (perms.includes('users:write')) main.append(usersSection());
  if (!perms.includes('tokens:write')) main.append(state('empty', 'Your role can read telemetry only; ask an admin for ingest tokens or API keys.'));
  return null;
}

const tokenKind = {
  id: 'tokens', title: 'Ingest tokens', noun: 'ingest token',
  list: () => api.api('/auth/fetch_ingest_tokens').then((d) => d.tokens),
  create: (body) => api.api('/auth/generate_ingest_token', { method: 'POST', body }).then((d) => ({ item: d, secret: d.token })),
  revoke: (x) => api.api('/auth/revoke_ingest_token/' + encodeURIComponent(x.uuid), { method: 'POST' }),
  rotate: (x, grace) => api.api('/auth/rotate_ingest_token/' + encodeURIComponent(x.uuid), { method: 'POST', body: { grace_period: Number(grace) } }).then((d) => ({ item: d, secret: d.token })),
  key: (x) => x.uuid,
};

const keyKind = {
  id: 'apikeys', title: 'API keys', noun: 'API key',
  list: () => api.api('/auth/api_keys').then((d) => d.api_keys),
  create: (body) => api.api('/auth/api_keys', { method: 'POST', body: { ...body, scopes: body.scopes } }).then((d) => ({ item: d, secret: d.key })),
  revoke: (x) => api.api('/auth/api_keys/' + encodeURIComponent(x.id) + '/revoke', { method: 'POST' }),
  key: (x) => x.id,
  scopes: ['telemetry:read', 'tokens:write'],
};

// confirmButton asks for a second press instead of a modal dialog: keyboard
// friendly, and nothing blocks the page.
function confirmButton(label, confirmLabel, onConfirm) {
  let armed = false;
  const b = h('button', { type: 'button', class: 'danger', onclick: () => {
    if (armed) { onConfirm(); return; }
    armed = true;
    b.textContent = confirmLabel;
    setTimeout(() => { armed = false; b.textContent = label; }, 5000);
  }, onblur: () => { armed = false; b.textContent = label; } }, label);
  return b;
}

// secretBox shows a new secret once, with a copy button.
function secretBox(noun, secret) {
  const input = h('input', { readonly: true, value: secret, class: 'secret', 'aria-label': 'New secret', onfocus: (e) => e.target.select() });
  const btn = h('button', { type: 'button', class: 'primary', onclick: () => copy(secret, btn) }, 'Copy');
  return h('div', { class: 'secret-box', role: 'alert' },
    h('p', {}, h('strong', {}, `Copy this ${noun} now: it is shown only once.`)), h('div', { class: 'row' }, input, btn));
}

function credentialSection(kind) {
  const list = h('div', {});
  const shown = h('div', {});
  const form = h('form', { class: 'filters', id: kind.id + '-create', onsubmit: async (e) => {
    e.preventDefault();
    const f = e.target;
    const body = { name: f.elements.name.value.trim(), expires_in: Number(f.elements.expires.value) };
    if (kind.scopes) body.scopes = kind.scopes.filter((s) => f.elements['scope-' + s].checked);
    try {
      const { secret } = await kind.create(body);
      mount(shown, secretBox(kind.noun, secret));
      f.reset();
      refresh();
    } catch (err) { if (err.status !== 401) mount(shown, state('error', err.message)); }
  } },
  h('label', {}, 'Name', h('input', { name: 'name', required: true, placeholder: 'production collector' })),
  h('label', {}, 'Expires', h('select', { name: 'expires' }, expiries.map(([v, t]) => h('option', { value: v }, t)))),
  kind.scopes ? h('fieldset', {}, h('legend', {}, 'Scopes'), kind.scopes.map((s) =>
    h('label', { class: 'check' }, h('input', { type: 'checkbox', name: 'scope-' + s, checked: s === 'telemetry:read' }), s))) : null,
  h('button', { type: 'submit', class: 'primary' }, 'Create ' + kind.noun));

  const act = async (fn) => {
    try {
      const out = await fn();
      mount(shown, out && out.secret ? secretBox(kind.noun, out.secret) : null);
      refresh();
    } catch (err) { if (err.status !== 401) mount(shown, state('error', err.message)); }
  };
  function refresh() {
    mount(list, state('loading', 'Loading…'));
    kind.list().then((items) => {
      if (!items.length) { mount(list, state('empty', `No ${kind.noun}s yet.`)); return; }
      mount(list, h('div', { class: 'scroll' }, h('table', { class: 'list', id: kind.id },
        h('thead', {}, h('tr', {}, ['Name', kind.scopes ? 'Scopes' : null, 'Status', 'Created', 'Expires', 'Last used', ''].filter((x) => x !== null).map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, items.map((x) => {
          const grace = h('select', { 'aria-label': 'Grace period for ' + x.name }, graces.map(([v, t]) => h('option', { value: v }, t)));
          const live = x.status === 'active';
          return h('tr', { 'data-name': x.name, class: live ? '' : 'inactive' },
            h('td', {}, x.name || kind.key(x), x.hint ? h('code', { class: 'muted' }, ' ' + x.hint + '…') : null),
            kind.scopes ? h('td', {}, (x.scopes || []).join(', ')) : null,
            h('td', {}, h('span', { class: 'badge ' + x.status }, x.status)),
            h('td', {}, fmtTime(x.created_at)), h('td', {}, x.expires_at ? fmtTime(x.expires_at) : 'never'),
            h('td', {}, x.last_used_at ? fmtTime(x.last_used_at) : 'never'),
            h('td', { class: 'actions' }, live ? h('div', { class: 'actions-row' },
              kind.rotate ? [grace, h('button', { type: 'button', class: 'rotate', onclick: () => act(() => kind.rotate(x, grace.value)) }, 'Rotate')] : null,
              confirmButton('Revoke', 'Confirm revoke', () => act(() => kind.revoke(x))),
            ) : null));
        })))));
    }, (err) => { if (err.status !== 401) mount(list, state('error', 'Could not load: ' + err.message)); });
  }
  refresh();
  return h('section', { id: 'section-' + kind.id }, h('h2', {}, kind.title), form, shown, list);
}

function usersSection() {
  const list = h('div', {});
  const shown = h('div', {});
  const roles = ['viewer', 'member', 'admin'];
  const showGrant = (u) => mount(shown, h('div', { class: 'secret-box', role: 'alert' },
    h('p', {}, h('strong', {}, `One-time password link token for ${u.email} (shown once, expires ${fmtTime(u.set_password_expires_at)}):`)),
    h('div', { class: 'row' }, h('input', { readonly: true, value: u.set_password_token, class: 'secret', 'aria-label': 'Set-password token' }),
      (() => { const b = h('button', { type: 'button', onclick: () => copy(u.set_password_token, b) }, 'Copy'); return b; })()),
    h('p', { class: 'muted' }, 'They choose a password with POST /auth/set_password {token, password}.')));
  const act = async (fn) => {
    try { const u = await fn(); if (u && u.set_password_token) showGrant(u); refresh(); } catch (err) { if (err.status !== 401) mount(shown, state('error', err.message)); }
  };
  const form = h('form', { class: 'filters', onsubmit: (e) => {
    e.preventDefault();
    const f = e.target;
    act(() => api.api('/auth/users', { method: 'POST', body: { email: f.elements.email.value, display_name: f.elements.display.value, role: f.elements.role.value } }).then((u) => { f.reset(); return u; }));
  } },
  h('label', {}, 'Email', h('input', { name: 'email', type: 'email', required: true })),
  h('label', {}, 'Name', h('input', { name: 'display' })),
  h('label', {}, 'Role', h('select', { name: 'role' }, roles.map((r) => h('option', { value: r }, r)))),
  h('button', { type: 'submit', class: 'primary' }, 'Invite user'));
  function refresh() {
    api.api('/auth/users').then((d) => {
      mount(list, h('div', { class: 'scroll' }, h('table', { class: 'list', id: 'users' },
        h('thead', {}, h('tr', {}, ['Email', 'Name', 'Role', 'Status', 'Last sign-in', ''].map((t) => h('th', { scope: 'col' }, t)))),
        h('tbody', {}, d.users.map((u) => h('tr', {}, h('td', {}, u.email), h('td', {}, u.display_name), h('td', {}, u.role),
          h('td', {}, h('span', { class: 'badge ' + u.status }, u.status)), h('td', {}, u.last_login_at ? fmtTime(u.last_login_at) : 'never'),
          h('td', { class: 'actions' }, u.status === 'active' ? h('div', { class: 'actions-row' },
            h('button', { type: 'button', onclick: () => act(() => api.api(`/auth/users/${encodeURIComponent(u.id)}/reset_password`, { method: 'POST' })) }, 'Reset password'),
            confirmButton('Disable', 'Confirm disable', () => act(() => api.api(`/auth/users/${encodeURIComponent(u.id)}/disable`, { method: 'POST' }))),
          ) : null)))))));
    }, (err) => { if (err.status !== 401) mount(list, state('error', 'Could not load: ' + err.message)); });
  }
  refresh();
  return h('section', { id: 'section-users' }, h('h2', {}, 'Users and roles'), form, shown, list);
}
