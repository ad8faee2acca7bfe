import { h, state } from './dom.js';
import * as api from './api.js';

// loginPage is the sign-in form; onDone runs once signed in.
export function loginPage(onDone, notice) {
  const msg = h('div', { 'aria-live': 'polite' }, notice ? state('error', notice) : null);
  const sso = h('div', { class: 'sso' });
  api.signInOptions().then((o) => {
    if (o.oidc) sso.append(h('p', { class: 'or' }, 'or'), h('a', { class: 'button', href: '/auth/oidc/login', id: 'sso' }, 'Sign in with SSO'));
  }).catch(() => {});
  const submit = async (e) => {
    e.preventDefault();
    const f = e.target;
    const button = f.querySelector('button');
    button.disabled = true;
    msg.replaceChildren(state('loading', 'Signing in…'));
    try {
      await api.login(f.email.value, f.password.value);
      onDone();
    } catch (err) {
      msg.replaceChildren(state('error', err.status === 401 ? 'Wrong email or password.' : err.message));
      button.disabled = false;
    }
  };
  return h('div', { class: 'login' },
    h('form', { id: 'login', onsubmit: submit },
      h('h1', {}, 'telemetryd'),
      h('label', {}, 'Email', h('input', { name: 'email', type: 'email', autocomplete: 'username', required: true, autofocus: true })),
      h('label', {}, 'Password', h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
      msg,
      h('button', { type: 'submit', class: 'primary' }, 'Sign in'),
      sso));
}
