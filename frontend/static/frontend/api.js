// The JSON API client: fetch with the session cookie and Django's CSRF header.
//
//   const data = await api(`/sessions/${slug}/questions`, { method: 'POST', body: {...} });
//
// Resolves with the parsed JSON body on 2xx; otherwise throws an ApiError carrying the
// HTTP status, the server's {code, message} and Retry-After seconds when sent.

function strings() {
  try {
    return JSON.parse(document.getElementById('i18n')?.textContent || '{}') || {};
  } catch {
    return {};
  }
}

function apiBase() {
  try {
    return JSON.parse(document.getElementById('page-config')?.textContent || '{}').api || '/api';
  } catch {
    return '/api';
  }
}

export class ApiError extends Error {
  constructor(status, code, message, { retryAfter = null, body = null } = {}) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
    this.body = body;
  }
}

/** The CSRF token from the csrftoken cookie (read on every call: login rotates it). */
export function csrfToken() {
  for (const part of document.cookie.split(';')) {
    const [name, ...rest] = part.trim().split('=');
    if (name === 'csrftoken') return decodeURIComponent(rest.join('='));
  }
  const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
  return input ? input.value : '';
}

function parseRetryAfter(value) {
  if (!value) return null;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds));
  const date = Date.parse(value);
  return Number.isNaN(date) ? null : Math.max(0, Math.ceil((date - Date.now()) / 1000));
}

/** Pull a human message out of the error bodies the API may send. */
function errorMessage(body, fallback) {
  if (body && typeof body === 'object') {
    if (typeof body.message === 'string' && body.message) return body.message;
    if (typeof body.detail === 'string' && body.detail) return body.detail;
    if (Array.isArray(body.detail) && body.detail.length) {
      const first = body.detail[0];
      if (first && typeof first.msg === 'string') return first.msg;
    }
  }
  return fallback;
}

/**
 * Call the API. `path` is relative to the API root ("/sessions/x"); absolute URLs
 * starting with "/api/" are accepted too.
 */
export async function api(path, { method = 'GET', body, signal, headers = {} } = {}) {
  const T = strings();
  const url = path.startsWith('/api/') || path.startsWith('http') ? path : apiBase() + path;
  const init = {
    method,
    signal,
    credentials: 'same-origin',
    headers: { Accept: 'application/json', ...headers },
  };
  if (method !== 'GET' && method !== 'HEAD') {
    init.headers['X-CSRFToken'] = csrfToken();
    if (body !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
  }
  let response;
  let data = null;
  // Supports and votes count only under a browser id that a page load issued and that is
  // a few seconds old (hub/browser.py): a too-new id waits as Retry-After says and sends
  // again; a missing one (cookie cleared or expired while the page was open) is fetched
  // by loading this page again. Each at most once, so a refusal still reaches the caller.
  const retried = new Set();
  for (;;) {
    try {
      response = await fetch(url, init);
    } catch (err) {
      if (err && err.name === 'AbortError') throw err;
      throw new ApiError(0, 'network', T.network_error || 'Network error');
    }
    data = null;
    const text = await response.text().catch(() => '');
    if (text) {
      try {
        data = JSON.parse(text);
      } catch {
        data = null;
      }
    }
    const code = data && typeof data.code === 'string' ? data.code : '';
    if (code === 'no_browser_id' && !retried.has(code)) {
      retried.add(code);
      await fetch(window.location.href, { credentials: 'same-origin', headers: { Accept: 'text/html' } })
        .catch(() => null);
      continue;
    }
    if (code === 'browser_id_too_new' && !retried.has(code)) {
      retried.add(code);
      const wait = Math.min(parseRetryAfter(response.headers.get('Retry-After')) ?? 3, 30);
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
      continue;
    }
    break;
  }
  if (response.ok) return data;
  const fallback = response.status === 422 || response.status === 400
    ? (T.invalid_input || 'Invalid input')
    : (T.server_error || 'Server error');
  throw new ApiError(
    response.status,
    (data && typeof data.code === 'string' && data.code) || `http_${response.status}`,
    errorMessage(data, fallback),
    { retryAfter: parseRetryAfter(response.headers.get('Retry-After')), body: data },
  );
}
