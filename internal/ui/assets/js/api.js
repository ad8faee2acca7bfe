// The API client: the session (access and refresh token in sessionStorage, so a
// reload keeps the tab signed in and closing it forgets them), one refresh on a
// 401, and a "session-expired" event when that fails.

const KEY = 'telemetryd.session';
let session = load();
let refreshing = null;

function load() {
  try { return JSON.parse(sessionStorage.getItem(KEY)); } catch { return null; }
}

export class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

export const signedIn = () => !!session;

export function setSession(pair) {
  session = { access: pair.access_token, refresh: pair.refresh_token };
  sessionStorage.setItem(KEY, JSON.stringify(session));
}

function clearSession() {
  session = null;
  sessionStorage.removeItem(KEY);
}

function expire() {
  clearSession();
  window.dispatchEvent(new CustomEvent('session-expired'));
}

async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.error || res.statusText);
  return data;
}

export async function login(email, password) {
  setSession(await post('/auth/login', { email, password }));
}

export async function logout() {
  const s = session;
  clearSession();
  if (s) await post('/auth/logout', { refresh_token: s.refresh }).catch(() => {});
}

// refresh trades the refresh token for a new pair once, however many requests
// failed at the same moment.
function refresh() {
  if (!refreshing) {
    const token = session && session.refresh;
    refreshing = (token ? post('/auth/refresh', { refresh_token: token }).then(setSession).then(() => true, () => false) : Promise.resolve(false))
      .finally(() => { refreshing = null; });
  }
  return refreshing;
}

async function authorized(path, init, signal) {
  const send = () => fetch(path, { ...init, signal, headers: { ...(init.headers || {}), Authorization: 'Bearer ' + (session && session.access) } });
  let res = await send();
  if (res.status === 401 && session && await refresh()) res = await send();
  if (res.status === 401) {
    expire();
    throw new ApiError(401, 'Your session expired. Sign in again.');
  }
  return res;
}

// api calls a JSON route; query is an object or URLSearchParams.
export async function api(path, { method = 'GET', query, body, signal } = {}) {
  const qs = query ? '?' + new URLSearchParams(query) : '';
  const init = { method };
  if (body !== undefined) {
    init.headers = { 'Content-Type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  const res = await authorized(path + qs, init, signal);
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw new ApiError(res.status, data.error || res.statusText);
  return data;
}

export async function signInOptions() {
  const res = await fetch('/auth/sign_in_options');
  return res.ok ? res.json() : { password: true, oidc: false };
}

// tail follows /telemetry/tail. EventSource cannot send an Authorization header,
// so this reads the stream with fetch and parses Server-Sent Events itself. After a
// dropped connection it reconnects with Last-Event-ID and misses nothing the stream
// still holds. onStatus gets 'open', 'retrying' or 'closed'.
export function tail(query, onEvent, onStatus) {
  const ctl = new AbortController();
  let lastId = '';
  (async () => {
    let delay = 500;
    while (!ctl.signal.aborted) {
      try {
        const headers = { Accept: 'text/event-stream' };
        if (lastId) headers['Last-Event-ID'] = lastId;
        const res = await authorized('/telemetry/tail?' + new URLSearchParams(query), { headers }, ctl.signal);
        if (!res.ok) throw new ApiError(res.status, (await res.json().catch(() => ({}))).error || res.statusText);
        onStatus('open');
        delay = 500;
        await readEvents(res.body, (ev) => {
          if (ev.id) lastId = ev.id;
          onEvent(ev);
        });
      } catch (err) {
        if (ctl.signal.aborted || (err instanceof ApiError && err.status === 401)) break;
      }
      if (ctl.signal.aborted) break;
      onStatus('retrying');
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 15000);
    }
    onStatus('closed');
  })();
  return () => ctl.abort();
}

async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let ev = { data: [] };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += value;
    let nl;
    while ((nl = buf.search(/\r?\n/)) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + (buf[nl] === '\r' ? 2 : 1));
      if (line === '') {
        if (ev.data.length) onEvent({ id: ev.id, event: ev.event || 'message', data: ev.data.join('\n') });
        ev = { data: [] };
      } else if (!line.startsWith(':')) {
        const i = line.indexOf(':');
        const field = i < 0 ? line : line.slice(0, i);
        const val = i < 0 ? '' : line.slice(i + 1).replace(/^ /, '');
        if (field === 'data') ev.data.push(val);
        else if (field === 'id') ev.id = val;
        else if (field === 'event') ev.event = val;
      }
    }
  }
}
