// The answer library panel (咨询答问库) of the host console and the screener page: entries
// suggested for the selected question (or for the text being typed), with their scores,
// a search box, and one button to answer the question at once with an entry's answer.
// Suggestions come from GET /api/library/suggestions/{slug}/{id}; search from GET
// /api/library?q=; answering is the console command `answer_from_library`.

import { CONFIG, t, h, setText, toast } from './common.js';

const ANSWERABLE = new Set(['pending', 'approved', 'queued', 'deferred']);
const DEBOUNCE_MS = 250;

function score(value) {
  return typeof value === 'number' ? value.toFixed(2) : '';
}

async function getJson(url) {
  const response = await fetch(url, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
  if (!response.ok) throw new Error(String(response.status));
  return response.json();
}

/** Fill the {placeholders} of a string read from the page. */
function fill(text, params) {
  return String(text).replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m));
}

/**
 * The small "答问库 0.83" badge of a question that intake matched with a library entry
 * (`library_hint`: the entry's question in the tooltip), or null. Its translated strings
 * are on the library panel (data-hint-label, data-hint-title). Selecting the question
 * shows the panel's full suggestions.
 */
export function libraryHintBadge(q) {
  const hint = q && q.library_hint;
  if (!hint) return null;
  const panel = document.querySelector('[data-testid="library-panel"]');
  const strings = panel ? panel.dataset : {};
  const params = { score: score(hint.score), question: hint.question };
  return h('span', {
    class: 'badge badge-library',
    'data-testid': `library-hint-${q.id}`,
    'data-entry': String(hint.entry),
    title: fill(strings.hintTitle || '{score}: {question}', params),
  }, fill(strings.hintLabel || '{score}', params));
}

/**
 * Mount the panel in `root` (an element with [data-role] children: list, empty, search,
 * target). `client` is the ConsoleClient (for commands and permissions).
 * Returns { update(question) } to call when the selection or its text changes, and
 * { suggestFor(text) } to show matches for free text (the screener's form).
 */
export function libraryPanel(root, client) {
  if (!root) return { update() {}, suggestFor() {} };
  const list = root.querySelector('[data-role="list"]');
  const empty = root.querySelector('[data-role="empty"]');
  const search = root.querySelector('[data-role="search"]');
  const target = root.querySelector('[data-role="target"]');
  let current = null; // the question the panel answers for
  let shownKey = '';
  let timer = null;
  let generation = 0;

  function canAnswer() {
    return client.can('answer_from_library') && current && ANSWERABLE.has(current.state);
  }

  function render(entries) {
    list.replaceChildren(...entries.map((entry) => {
      const answer = h('button', {
        type: 'button',
        class: 'small',
        'data-testid': `library-answer-${entry.id}`,
        hidden: !canAnswer(),
        onclick: () => answerWith(entry),
      }, t('library_answer_with'));
      return h('li', { class: 'library-entry', 'data-testid': `library-entry-${entry.id}` },
        h('p', { class: 'library-q' },
          entry.score !== null && entry.score !== undefined
            ? h('span', { class: 'badge', title: t('score_help') }, score(entry.score)) : null,
          ' ', entry.question),
        h('details', { class: 'library-a' }, h('summary', null, t('library_show_answer')), h('p', null, entry.answer)),
        h('p', { class: 'muted small' },
          [entry.department, t('library_used', { n: entry.times_used })].filter(Boolean).join(' · ')),
        answer);
    }));
    empty.hidden = entries.length > 0;
  }

  async function load(key, url) {
    if (key === shownKey) return;
    shownKey = key;
    const mine = ++generation;
    try {
      const entries = await getJson(url);
      if (mine === generation) render(entries);
    } catch {
      if (mine === generation) render([]);
    }
  }

  function schedule(key, url) {
    clearTimeout(timer);
    timer = setTimeout(() => load(key, url), DEBOUNCE_MS);
  }

  async function answerWith(entry) {
    if (!canAnswer()) return;
    try {
      await client.command('answer_from_library', { question: current.id, entry: entry.id });
      toast(t('library_answered', { id: current.id }), 'ok');
    } catch {
      // The error frame was already shown as a toast.
    }
  }

  if (search) {
    search.addEventListener('input', () => {
      const q = search.value.trim();
      if (q) schedule(`q:${q}`, `/api/library?q=${encodeURIComponent(q)}&limit=5`);
      else if (current) schedule(`id:${current.id}`, `/api/library/suggestions/${CONFIG.slug}/${current.id}`);
    });
  }

  return {
    update(question) {
      const changed = question?.id !== current?.id || question?.state !== current?.state;
      current = question || null;
      if (target) setText(target, current ? t('library_for', { id: current.id }) : '');
      if (!current) {
        if (!search || !search.value.trim()) { shownKey = ''; render([]); }
        return;
      }
      if (search && search.value.trim()) return; // the host is searching: keep the results
      if (changed) schedule(`id:${current.id}`, `/api/library/suggestions/${CONFIG.slug}/${current.id}`);
      for (const button of list.querySelectorAll('button')) button.hidden = !canAnswer();
    },
    suggestFor(text) {
      const q = (text || '').trim();
      if (q.length < 4) return;
      schedule(`q:${q}`, `/api/library?q=${encodeURIComponent(q)}&limit=3`);
    },
  };
}
