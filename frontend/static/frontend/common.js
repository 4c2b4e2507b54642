// Shared helpers of every page: safe DOM building, translated strings, page config,
// toasts and date formatting. Loaded by base.html on every page; page modules import it.
//
// Never use innerHTML with data: h() builds nodes and puts text in with text nodes only.

import { api } from './api.js';

function readJson(id) {
  const el = document.getElementById(id);
  if (!el) return {};
  try {
    return JSON.parse(el.textContent || '{}') || {};
  } catch {
    return {};
  }
}

/** Translated strings, from the #i18n block rendered by the server. */
export const T = readJson('i18n');
/** Page settings (slug, endpoints, limits), from the #page-config block. */
export const CONFIG = readJson('page-config');

/**
 * Look up a translated string and fill its {placeholders}.
 * A dotted key reads a nested table: t('states.queued').
 */
export function t(key, params) {
  let value = T;
  for (const part of String(key).split('.')) {
    value = value && typeof value === 'object' ? value[part] : undefined;
  }
  if (typeof value !== 'string') value = String(key).split('.').pop();
  if (!params) return value;
  return value.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/** A label from one of the enumeration tables, falling back to the raw code. */
export function label(table, code) {
  const tbl = T[table];
  return (tbl && typeof tbl[code] === 'string') ? tbl[code] : String(code ?? '');
}

const PROPS = new Set(['hidden', 'disabled', 'checked', 'value', 'tabIndex', 'draggable', 'open']);

/**
 * Build an element. Children may be strings or numbers (become text nodes), nodes,
 * arrays, or null/false/undefined (skipped). Attributes: "class", "on<event>" handlers,
 * a few DOM properties (hidden, disabled…), anything else through setAttribute.
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  if (attrs) {
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) {
        if (PROPS.has(key)) el[key] = false;
        continue;
      }
      if (key === 'class') el.className = value;
      else if (key.startsWith('on') && typeof value === 'function') {
        el.addEventListener(key.slice(2).toLowerCase(), value);
      } else if (PROPS.has(key)) el[key] = value;
      else el.setAttribute(key, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

const ICONS = {
  // Material Design icons (Apache License 2.0).
  thumb: 'M1 21h4V9H1v12zm22-11c0-1.1-.9-2-2-2h-6.31l.95-4.57.03-.32c0-.41-.17-.79-.44-1.06L14.17 1 7.59 7.59C7.22 7.95 7 8.45 7 9v10c0 1.1.9 2 2 2h9c.83 0 1.54-.5 1.84-1.22l3.02-7.05c.09-.23.14-.47.14-.73v-2z',
};

/** A small inline SVG icon (no emoji: government desktops often lack an emoji font). */
export function icon(name, cls = 'icon') {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('viewBox', '0 0 24 24');
  svg.setAttribute('class', cls);
  svg.setAttribute('aria-hidden', 'true');
  svg.setAttribute('focusable', 'false');
  const path = document.createElementNS(ns, 'path');
  path.setAttribute('d', ICONS[name] || '');
  path.setAttribute('fill', 'currentColor');
  svg.appendChild(path);
  return svg;
}

/** Replace an element's content with plain text (never parsed as HTML). */
export function setText(el, text) {
  if (el && el.textContent !== String(text ?? '')) el.textContent = String(text ?? '');
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function byTestId(id, root = document) {
  return root.querySelector(`[data-testid="${CSS.escape(id)}"]`);
}

// --- Dates ---------------------------------------------------------------------------

const locale = (CONFIG.lang || document.documentElement.lang || 'zh-hans').startsWith('en')
  ? 'en-GB' : 'zh-CN';
const tz = CONFIG.time_zone || 'Asia/Shanghai';
const fmtTime = new Intl.DateTimeFormat(locale, { timeZone: tz, hour: '2-digit', minute: '2-digit', hour12: false });
const fmtDateTime = new Intl.DateTimeFormat(locale, {
  timeZone: tz, month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', hour12: false,
});

function toDate(value) {
  if (!value) return null;
  const d = value instanceof Date ? value : new Date(value);
  return Number.isNaN(d.getTime()) ? null : d;
}

/** "14:05" today, "03-12 14:05" on another day (in the site's time zone). */
export function formatTime(value) {
  const d = toDate(value);
  if (!d) return '';
  const sameDay = fmtDateTime.format(d).slice(0, 5) === fmtDateTime.format(new Date()).slice(0, 5);
  return sameDay ? fmtTime.format(d) : fmtDateTime.format(d);
}

export function formatDateTime(value) {
  const d = toDate(value);
  return d ? fmtDateTime.format(d) : '';
}

export function timeElement(value, cls = 'time') {
  const d = toDate(value);
  if (!d) return null;
  return h('time', { class: cls, datetime: d.toISOString(), title: d.toLocaleString(locale, { timeZone: tz }) }, formatTime(d));
}

// --- Toasts --------------------------------------------------------------------------

/** Show a short message at the bottom of the screen. kind: error | success | info. */
export function toast(message, kind = 'error', ms) {
  const box = document.getElementById('toasts');
  if (!box || !message) return;
  const duration = ms ?? (kind === 'error' ? 8000 : 3000);
  const item = h('div', { class: `toast toast-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `toast-${kind}` },
    h('span', { class: 'toast-text' }, message),
    h('button', { type: 'button', class: 'toast-close', 'aria-label': t('close'), onclick: () => item.remove() }, '×'));
  box.appendChild(item);
  while (box.children.length > 5) box.firstElementChild.remove();
  setTimeout(() => item.remove(), duration);
}

// --- Small utilities ------------------------------------------------------------------

/** Run fn at most once per animation frame, however often it is asked for. */
export function rafThrottle(fn) {
  let queued = false;
  return () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => {
      queued = false;
      fn();
    });
  };
}

/** Length in user-visible characters (code points), as the server counts them. */
export function charLength(text) {
  return [...String(text ?? '')].length;
}

export function storageGet(key, fallback) {
  try {
    const raw = localStorage.getItem(key);
    return raw === null ? fallback : JSON.parse(raw);
  } catch {
    return fallback;
  }
}

export function storageSet(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Private mode or full storage: the feature degrades to this page view only.
  }
}

/** Set a session status badge (text and colour class) from a status code. */
export function setStatusBadge(el, status) {
  if (!el || !status) return;
  for (const cls of [...el.classList]) if (cls.startsWith('status-')) el.classList.remove(cls);
  el.classList.add(`status-${status}`);
  el.dataset.status = status;
  setText(el, label('statuses', status));
}

// --- Sign out button (base.html) -----------------------------------------------------

for (const button of document.querySelectorAll('[data-logout]')) {
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await api('/auth/logout', { method: 'POST' });
    } catch {
      // Signing out is best effort; the login page shows the real state.
    }
    window.location.assign(CONFIG.login_url || '/login/');
  });
}
