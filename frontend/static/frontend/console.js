// The host console: the merged question queue with filters, moderation buttons and keyboard
// shortcuts, the run order (reorder by buttons, drag and drop or keyboard), the question on
// air, live counts and the session status buttons. Observers see the same page read-only.
// The same question asked again (on any channel) is merged into one: the queue shows its
// askers per channel, the host's merge suggestions ("similar to #N") and undo for merges.

import { T, t, label, h, setText, byTestId, timeElement, toast, rafThrottle } from './common.js';
import { startConsole } from './staff.js';
import { libraryHintBadge, libraryPanel } from './library.js';

const STATES = ['received', 'pending', 'approved', 'rejected', 'queued', 'on_air', 'answered', 'deferred', 'unanswered', 'merged'];
const CHANNELS = ['web', 'microblog', 'hotline', 'radio', 'onsite'];
const STATE_GROUPS = {
  review: ['received', 'pending'],
  active: ['approved', 'queued', 'on_air'],
};
const COUNT_COLUMNS = [
  ['col_review', ['received', 'pending']],
  ['col_active', ['approved', 'queued', 'on_air']],
  ['col_answered', ['answered']],
  ['col_followup', ['deferred', 'unanswered']],
  ['col_rejected', ['rejected']],
  ['col_merged', ['merged']],
];
const MODERATION = ['approve', 'reject', 'queue', 'reorder', 'on_air', 'off_air', 'defer', 'set_status', 'merge', 'unmerge'];

// The states from which each button is offered, as in moderation.actions. The server has
// the last word: a refused action comes back as an error frame and is shown as a toast.
const OFFERED = {
  approve: ['pending'],
  reject: ['pending', 'approved', 'queued', 'deferred'],
  queue: ['approved'],
  on_air: ['approved', 'queued'],
  off_air: ['on_air'],
  defer: ['pending', 'approved', 'queued'],
  flag: ['pending', 'approved', 'queued', 'on_air', 'deferred'],
  merge: ['pending', 'approved', 'queued', 'deferred'],
  unmerge: ['merged'],
};
// The states of a question that may take merged questions (moderation.actions.MERGE_TARGETS).
// A merged target is fine too: the server follows it to the question it was merged into.
const MERGE_TARGETS = new Set(['pending', 'approved', 'queued', 'on_air', 'answered', 'deferred', 'unanswered', 'merged']);
// Private questions are handled after the session, never approved (published), queued or put on air.
const PUBLIC_ONLY = new Set(['approve', 'queue', 'on_air']);

const TEST_ID = {
  approve: 'approve', reject: 'reject', queue: 'queue', on_air: 'onair', off_air: 'offair', defer: 'defer',
  flag: 'flag', merge: 'mergeinto', unmerge: 'unmerge',
};
const SHORTCUT = {
  approve: 'A', reject: 'R', queue: 'Q', on_air: 'O', off_air: 'O', defer: 'D', flag: 'F', merge: 'Shift+M', unmerge: 'U',
};
const KEY_HINT = { merge: '⇧M' };

const els = {
  queue: byTestId('queue'),
  queueEmpty: byTestId('queue-empty'),
  queueCount: byTestId('queue-count'),
  filterChannel: byTestId('filter-channel'),
  filterState: byTestId('filter-state'),
  filterText: byTestId('filter-text'),
  filterMerged: byTestId('filter-merged'),
  sortQueue: byTestId('sort-queue'),
  order: byTestId('run-order'),
  orderEmpty: byTestId('run-order-empty'),
  onAir: byTestId('console-on-air'),
  counts: byTestId('counts'),
  statusActions: byTestId('status-actions'),
  readOnly: byTestId('read-only'),
  rejectDialog: byTestId('reject-dialog'),
  deferDialog: byTestId('defer-dialog'),
  confirmDialog: byTestId('confirm-dialog'),
  mergeDialog: byTestId('merge-dialog'),
};

// With thousands of questions only the first `limit` of the filtered list are in the page;
// more join as the host scrolls to the end of the list or moves the selection there, so a
// batch of new questions never costs more than one page of DOM work.
const PAGE = 150;

const ui = {
  selected: null,
  visible: [],
  busy: new Set(),
  version: 0,
  ready: false,
  limit: PAGE,
};

// --- Commands ----------------------------------------------------------------------------

/** Send a command about one question, marking it busy until the reply. Resolves with the
 * ack's result, or false when the server refused. */
async function act(action, q, params = {}) {
  if (!q) return false;
  ui.busy.add(q.id);
  render();
  try {
    return (await client.command(action, { question: q.id, ...params })) || {};
  } catch {
    return false; // The error frame was already shown as a toast.
  } finally {
    ui.busy.delete(q.id);
    render();
  }
}

function run(action, q) {
  if (!q || !client.can(action)) return;
  if (!OFFERED[action].includes(q.state)) {
    toast(t('not_possible', { action: t(`actions.${action}`), state: label('states', q.state) }), 'info');
    return;
  }
  // A keyboard shortcut reaches here without a button: private questions are never
  // approved, queued or put on air (the server refuses with 'private' too).
  if (PUBLIC_ONLY.has(action) && q.visibility === 'private') {
    toast(t('not_possible', { action: t(`actions.${action}`), state: t('private') }), 'info');
    return;
  }
  if (action === 'reject') openReject(q);
  else if (action === 'defer') openDefer(q);
  else if (action === 'merge') openMerge(q);
  else if (action === 'unmerge') unmerge(q);
  else act(action, q);
}

// --- Merging -----------------------------------------------------------------------------

function score(value) {
  return Number(value || 0).toFixed(2);
}

/** The similar questions suggested for `q`, best first. A suggestion is made on arrival:
 * the other question may since have left the states that take merges (see canTakeMerge). */
function mergeSuggestions(q) {
  if (!q || !Array.isArray(q.similar) || q.state === 'merged') return [];
  return q.similar
    // A suggestion already merged into this question is no suggestion any more.
    .filter((ref) => ref && typeof ref.id === 'number' && ref.id !== q.id && mergeEnd(ref.id) !== q.id)
    .sort((a, b) => (b.score || 0) - (a.score || 0) || a.id - b.id);
}

function canTakeMerge(id) {
  const other = client.questions.get(id);
  return !other || MERGE_TARGETS.has(other.state);
}

/** The question a merge into `id` ends in: the server follows merged targets. */
function mergeEnd(id) {
  let target = client.questions.get(id);
  const seen = new Set();
  while (target && target.state === 'merged' && target.merged_into && !seen.has(target.id)) {
    seen.add(target.id);
    target = client.questions.get(target.merged_into) || { id: target.merged_into };
  }
  return target ? target.id : id;
}

/** After the ack of a merge: the server sends the target's new view (its askers) but may not
 * send the merged question's own, so mark it merged here unless a newer view came first. */
async function merge(q, into) {
  if (!q || !into) return false;
  const result = await act('merge', q, { into });
  if (result) {
    // The server sends every console the merged question's new state; nothing to patch here.
    toast(t('merged_done', { id: q.id, into }), 'success');
  }
  return !!result;
}

/** `m`: merge into the best suggestion; without one, ask for the target. */
function mergeBest(q) {
  if (!q || !client.can('merge')) return;
  if (!OFFERED.merge.includes(q.state)) {
    run('merge', q); // explains why not
    return;
  }
  const best = mergeSuggestions(q).find((ref) => canTakeMerge(ref.id));
  if (best && offered('merge', q)) merge(q, best.id);
  else run('merge', q);
}

async function unmerge(q) {
  const into = q.merged_into;
  const ok = await act('unmerge', q);
  if (ok) toast(t('unmerged_done', { id: q.id, into: into ?? '?' }), 'success');
}

/** Select question `id`, changing the filters if they hide it. */
function reveal(id) {
  const q = client.questions.get(id);
  if (!q) {
    toast(t('merge_unknown', { id }), 'info');
    return;
  }
  if (!matches(q, els.filterChannel.value, els.filterState.value, els.filterText.value.trim())) {
    els.filterChannel.value = '';
    els.filterText.value = '';
    els.filterState.value = '';
    if (q.state === 'merged' && els.filterMerged) els.filterMerged.checked = true;
  }
  select(id);
}

// --- Queue list --------------------------------------------------------------------------

function showMerged() {
  return !!(els.filterMerged && els.filterMerged.checked);
}

/** Merged questions are kept (never deleted) but hidden unless asked for: with the
 * "show merged" box, the "merged" state filter or a search for their #id. */
function matches(q, channel, stateFilter, text) {
  if (channel && q.channel !== channel) return false;
  if (stateFilter) {
    const group = STATE_GROUPS[stateFilter];
    if (group ? !group.includes(q.state) : q.state !== stateFilter) return false;
  }
  if (text && text.startsWith('#') && /^#\d+$/.test(text)) return String(q.id) === text.slice(1);
  if (q.state === 'merged' && stateFilter !== 'merged' && !showMerged()) return false;
  if (text) {
    const hay = `${q.text}\n${q.original_text}\n${q.asker}\n${q.id}`.toLowerCase();
    if (!hay.includes(text.toLowerCase())) return false;
  }
  return true;
}

function byPriority(a, b) {
  return (b.priority || 0) - (a.priority || 0) || byReceived(a, b);
}

// Parsed once per question view (a new view is a new object): sorting thousands of
// questions must not parse dates in the comparator.
const receivedMs = new WeakMap();

function receivedAt(q) {
  let ms = receivedMs.get(q);
  if (ms === undefined) {
    ms = Date.parse(q.received_at) || 0;
    receivedMs.set(q, ms);
  }
  return ms;
}

function byReceived(a, b) {
  return receivedAt(a) - receivedAt(b) || a.id - b.id;
}

const itemCache = new Map(); // id → {el, q, selected, busy, version}

function sessionStatus() {
  return client.session ? client.session.status : document.body.dataset.sessionStatus;
}

/** Whether the button for `action` is offered on question `q` (and why it is disabled). */
function offered(action, q) {
  if (!client.can(action) || !OFFERED[action].includes(q.state)) return false;
  if (PUBLIC_ONLY.has(action) && q.visibility === 'private') return false;
  const status = sessionStatus();
  if (status === 'ended' && action !== 'off_air') return false;
  return true;
}

function actionButtons(q) {
  const busy = ui.busy.has(q.id);
  const notLive = sessionStatus() !== 'live';
  const buttons = [];
  for (const action of ['approve', 'queue', 'on_air', 'off_air', 'defer', 'reject', 'flag', 'merge', 'unmerge']) {
    if (!offered(action, q)) continue;
    const blocked = action === 'on_air' && notLive;
    const cls = action === 'reject' ? 'button button-small button-danger-outline'
      : action === 'on_air' ? 'button button-small button-live'
        : action === 'approve' ? 'button button-small button-primary' : 'button button-small';
    buttons.push(h('button', {
      type: 'button', class: cls, disabled: busy || blocked, title: blocked ? t('not_live') : null,
      'data-testid': `${TEST_ID[action]}-${q.id}`,
      'aria-keyshortcuts': SHORTCUT[action],
      onclick: (e) => {
        e.stopPropagation();
        select(q.id, false);
        run(action, q);
      },
    }, action === 'merge' ? t('merge_into_dots') : t(`actions.${action}`),
    h('kbd', { class: 'key-hint', 'aria-hidden': 'true' }, KEY_HINT[action] || SHORTCUT[action])));
  }
  return buttons;
}

function badges(q) {
  return [
    h('span', { class: 'q-id' }, `#${q.id}`),
    h('span', { class: `badge badge-channel channel-${q.channel}` }, label('channels', q.channel)),
    h('span', { class: `badge badge-state state-${q.state}`, 'data-testid': `state-${q.id}` }, label('states', q.state)),
    q.visibility === 'private' ? h('span', { class: 'badge badge-private' }, t('private')) : null,
    libraryHintBadge(q),
  ];
}

function excerpt(text, max = 60) {
  const chars = [...String(text || '')];
  return chars.length > max ? `${chars.slice(0, max).join('')}…` : chars.join('');
}

/** "网页 12 · 微博 30 · 热线 4": askers per channel, in the usual channel order. */
function sourcesText(sources) {
  const rank = (c) => (CHANNELS.includes(c) ? CHANNELS.indexOf(c) : CHANNELS.length);
  return Object.entries(sources || {})
    .filter(([, n]) => n > 0)
    .sort(([a], [b]) => rank(a) - rank(b) || a.localeCompare(b))
    .map(([c, n]) => `${label('channels', c)} ${n}`)
    .join(' · ');
}

function stop(fn) {
  return (event) => {
    event.stopPropagation();
    fn(event);
  };
}

/** Who asked it (when merged repeats make it more than one), what it was merged into, and
 * the host's merge suggestions. */
function mergeInfo(q) {
  const nodes = [];
  const askers = Number(q.askers || 1);
  if (askers > 1) {
    nodes.push(h('p', { class: 'q-item-sources' },
      h('strong', { class: 'q-askers', 'data-testid': `askers-${q.id}` }, t('askers_n', { count: askers })),
      h('span', { class: 'q-sources', 'data-testid': `sources-${q.id}`, title: t('sources_help') }, sourcesText(q.sources))));
  }
  if (q.state === 'merged' && q.merged_into) {
    const target = client.questions.get(q.merged_into);
    const hasScore = q.merge_score !== null && q.merge_score !== undefined;
    nodes.push(h('p', { class: 'q-item-merged', 'data-testid': `merged-${q.id}` },
      h('button', {
        type: 'button', class: 'link-button', 'data-testid': `merged-into-${q.id}`,
        title: hasScore ? t('score_help') : t('merged_by_host'),
        onclick: stop(() => reveal(q.merged_into)),
      }, hasScore ? t('merged_into_score', { id: q.merged_into, score: score(q.merge_score) })
        : t('merged_into', { id: q.merged_into })),
      target ? h('span', { class: 'q-similar-text muted', title: target.text }, excerpt(target.text)) : null));
  }
  const suggestions = mergeSuggestions(q);
  if (suggestions.length) {
    const canMerge = offered('merge', q);
    const busy = ui.busy.has(q.id);
    nodes.push(h('ul', { class: 'q-similar', 'data-testid': `suggestions-${q.id}`, 'aria-label': t('similar_heading') },
      suggestions.map((ref) => {
        const other = client.questions.get(ref.id);
        const usable = canTakeMerge(ref.id);
        return h('li', { class: 'q-similar-item' },
          h('button', {
            type: 'button', class: 'link-button', 'data-testid': `similar-${q.id}-${ref.id}`,
            title: t('score_help'), onclick: stop(() => reveal(ref.id)),
          }, t('similar_to', { id: ref.id, score: score(ref.score) })),
          other ? h('span', { class: 'q-similar-text muted', title: other.text }, excerpt(other.text)) : null,
          other && !usable ? h('span', { class: `badge badge-state state-${other.state}` }, label('states', other.state)) : null,
          canMerge && usable ? h('button', {
            type: 'button', class: 'button button-small', disabled: busy,
            'data-testid': `merge-${q.id}-${ref.id}`,
            onclick: stop(() => {
              select(q.id, false);
              merge(q, ref.id);
            }),
          }, t('merge_into_n', { id: ref.id })) : null);
      })));
  }
  return nodes;
}

/** A key that changes when a question this item shows (merge target, suggestions) does. */
function relatedKey(q) {
  const ids = [...(q.similar || []).map((ref) => ref.id), q.merged_into].filter((id) => typeof id === 'number');
  return ids.map((id) => {
    const other = client.questions.get(id);
    return other ? `${id}:${other.state}:${other.text}` : `${id}:`;
  }).join('\n');
}

// --- Sectors -------------------------------------------------------------------------------

/** The question's sector, with "(staff)" when a person corrected the automatic guess; for
 * users who may correct it, a small select that sends set_sector on change. */
function sectorInfo(q) {
  const staff = q.sector_source === 'staff';
  const nodes = [];
  if (q.sector) {
    nodes.push(h('span', {
      class: `q-sector sector-${staff ? 'staff' : 'auto'}`,
      'data-testid': `sector-${q.id}`,
      'data-sector': q.sector,
      'data-source': q.sector_source || 'auto',
      title: staff ? t('sector_staff_help') : t('sector_auto_help'),
    }, `${t('sector')}: ${label('sectors', q.sector)}`, staff ? ` ${t('sector_staff')}` : null));
  }
  if (client.can('set_sector')) {
    const codes = Object.keys(T.sectors || {});
    const select = h('select', {
      class: 'sector-select',
      'data-testid': `set-sector-${q.id}`,
      'aria-label': `${t('set_sector')} #${q.id}`,
      title: t('set_sector'),
      disabled: ui.busy.has(q.id),
      onclick: (e) => e.stopPropagation(),
      onchange: async (e) => {
        e.stopPropagation();
        const sector = e.target.value;
        if (!sector || sector === q.sector) return;
        const result = await act('set_sector', q, { sector });
        if (result !== false) toast(t('sector_set', { id: q.id, sector: label('sectors', sector) }), 'success');
      },
    },
    q.sector ? null : h('option', { value: '' }, '—'),
    codes.map((code) => h('option', { value: code }, label('sectors', code))));
    select.value = q.sector || '';
    nodes.push(select);
  }
  return nodes.length ? h('span', { class: 'q-sector-box' }, nodes) : null;
}

// A link flag shows its URL only: the server cuts the match at the end of the URL, and so
// does the page (Chinese text written right after a link, maybe with a phone number in
// it, is not part of the link).
const URL_PART = /^[A-Za-z0-9\-._~:/?#[\]@!$&'()*+,;=%]+/;

function flagText(f) {
  const match = f.kind === 'link' ? ((f.match || '').match(URL_PART) || [''])[0] : (f.match || '');
  const head = `${label('flag_categories', f.category)} · ${label('flag_kinds', f.kind)}`;
  return match ? `${head}: ${match}` : head;
}

function renderQueueItem(q, selected) {
  const changed = q.original_text && q.original_text !== q.text;
  const meta = [
    h('span', null, q.asker || t('anonymous')),
    q.contact ? h('span', { class: 'q-contact', 'data-testid': `contact-${q.id}` }, `${t('contact')}: ${q.contact}`) : null,
    q.submitted_by ? h('span', null, t('typed_by', { user: q.submitted_by })) : null,
    h('span', null, t('supports_n', { count: q.supports || 0 })),
    h('span', { 'data-testid': `priority-${q.id}`, title: t('priority_help') }, `${t('priority')} ${Number(q.priority || 0).toFixed(1)}`),
    q.observer_flags ? h('span', { class: 'q-observer-flags', 'data-testid': `observer-flags-${q.id}` },
      t('observer_flags_n', { count: q.observer_flags })) : null,
    sectorInfo(q),
  ].filter(Boolean);
  const metaNodes = [];
  meta.forEach((node, i) => {
    if (i) metaNodes.push(' · ');
    metaNodes.push(node);
  });
  return h('li', {
    // Items out of sight are neither laid out nor painted (.queue-list > .q-item in
    // site.css: a style attribute would be refused by the Content-Security-Policy).
    class: `q-item state-${q.state}${selected ? ' is-selected' : ''}`,
    'data-testid': `q-${q.id}`,
    'data-id': String(q.id),
    'data-state': q.state,
    'data-channel': q.channel,
    'aria-current': selected ? 'true' : null,
    tabIndex: selected ? 0 : -1,
    onclick: () => select(q.id, false),
  },
  h('div', { class: 'q-item-head' }, badges(q), h('span', { class: 'q-item-time muted' }, timeElement(q.received_at))),
  h('p', { class: `q-item-text${q.text ? '' : ' muted'}`, 'data-testid': `q-text-${q.id}` },
    q.text || (q.visibility === 'private' ? t('private_hidden') : '')),
  q.flags && q.flags.length ? h('p', { class: `q-item-flags${q.held ? ' is-held' : ''}`, 'data-testid': `flags-${q.id}` },
    q.held ? h('strong', { class: 'flag-held' }, t('held')) : null,
    q.flags.map((f) => h('span', { class: `badge badge-flag flag-${f.action}`, title: label('flag_actions', f.action) },
      flagText(f)))) : null,
  changed ? h('details', { class: 'q-original' }, h('summary', null, t('original_text')), h('p', null, q.original_text)) : null,
  h('p', { class: 'q-item-meta muted' }, metaNodes),
  mergeInfo(q),
  q.state === 'rejected' || q.rejection_reason ? h('p', { class: 'q-item-reason', 'data-testid': `reason-${q.id}` },
    h('strong', null, `${t('reason')}: `), label('reasons', q.rejection_reason) || '—',
    q.rejection_note ? [h('br'), h('strong', null, `${t('note')}: `), q.rejection_note] : null) : null,
  q.answer && q.answer.summary ? h('div', { class: 'answer' },
    h('span', { class: 'answer-label' }, t('answer')), h('p', { class: 'answer-text' }, q.answer.summary)) : null,
  h('div', { class: 'q-item-actions' }, actionButtons(q)));
}

function renderQueue() {
  const channel = els.filterChannel.value;
  const stateFilter = els.filterState.value;
  const text = els.filterText.value.trim();
  const all = [...client.questions.values()];
  const order = els.sortQueue && els.sortQueue.value === 'priority' ? byPriority : byReceived;
  const list = all.filter((q) => matches(q, channel, stateFilter, text)).sort(order);

  // Keep a selection: if the selected question left the view, select its neighbour.
  const prevIndex = ui.visible.indexOf(ui.selected);
  ui.visible = list.map((q) => q.id);
  let selectedIndex = ui.selected === null ? -1 : ui.visible.indexOf(ui.selected);
  if (ui.selected !== null && selectedIndex < 0) {
    selectedIndex = ui.visible.length ? Math.min(Math.max(prevIndex, 0), ui.visible.length - 1) : -1;
    ui.selected = selectedIndex < 0 ? null : ui.visible[selectedIndex];
  }
  if (ui.selected === null && ui.visible.length) ui.selected = ui.visible[0];
  if (selectedIndex >= ui.limit) ui.limit = Math.ceil((selectedIndex + 1) / PAGE) * PAGE;
  const shown = list.length > ui.limit ? list.slice(0, ui.limit) : list;

  const active = document.activeElement;
  let cursor = els.queue.firstElementChild;
  const keep = new Set();
  for (const q of shown) {
    const selected = q.id === ui.selected;
    const busy = ui.busy.has(q.id);
    const related = relatedKey(q);
    let cached = itemCache.get(q.id);
    if (!cached || cached.q !== q || cached.selected !== selected || cached.busy !== busy
      || cached.version !== ui.version || cached.related !== related) {
      const el = renderQueueItem(q, selected);
      if (cached && cached.el.parentNode) {
        const hadFocus = cached.el.contains(active);
        const focusId = hadFocus && active && active.dataset ? active.dataset.testid : null;
        if (cached.el === cursor) cursor = el;
        cached.el.replaceWith(el);
        if (hadFocus) {
          const target = (focusId && el.querySelector(`[data-testid="${CSS.escape(focusId)}"]`)) || el;
          if (target.disabled) el.focus({ preventScroll: true });
          else target.focus({ preventScroll: true });
        }
      }
      cached = { el, q, selected, busy, version: ui.version, related };
      itemCache.set(q.id, cached);
    }
    keep.add(cached.el);
    if (cached.el === cursor) cursor = cursor.nextElementSibling;
    else els.queue.insertBefore(cached.el, cursor);
  }
  while (cursor) {
    const next = cursor.nextElementSibling;
    if (!keep.has(cursor)) cursor.remove();
    cursor = next;
  }
  for (const [id, cached] of itemCache) {
    // Forget questions that are gone, and (past a few pages) items out of the page.
    if (!client.questions.has(id) || (itemCache.size > 4 * PAGE && !keep.has(cached.el))) itemCache.delete(id);
  }
  showMore(shown.length, list.length);

  const hiddenMerged = stateFilter || showMerged() || /^#\d+$/.test(text) ? 0
    : all.filter((q) => q.state === 'merged' && matches(q, channel, 'merged', text)).length;
  const countText = t('showing', { shown: list.length, total: all.length })
    + (hiddenMerged ? ` · ${t('merged_hidden', { count: hiddenMerged })}` : '');
  setText(els.queueCount, ui.ready ? countText : '');
  els.queueEmpty.hidden = list.length > 0;
  setText(els.queueEmpty, ui.ready ? t('no_match') : t('connecting'));
}

// The end of the page: when it scrolls into view, the next page of questions joins.
const moreMarker = h('p', { class: 'q-more muted', 'data-testid': 'queue-more', hidden: true });
els.queue.after(moreMarker);
if ('IntersectionObserver' in window) {
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting) && ui.visible.length > ui.limit) {
      ui.limit += PAGE;
      render();
    }
  }, { rootMargin: '400px' }).observe(moreMarker);
}

function showMore(shown, total) {
  moreMarker.hidden = shown >= total;
  if (shown < total) setText(moreMarker, t('showing', { shown, total }));
}

function resetPage() {
  ui.limit = PAGE;
  render();
}

function select(id, focus = true) {
  if (id === null || id === undefined) return;
  ui.selected = id;
  render.now();
  if (focus) {
    const el = itemCache.get(id)?.el;
    if (el) {
      el.focus({ preventScroll: true });
      el.scrollIntoView({ block: 'nearest' });
    }
  }
}

function moveSelection(delta) {
  if (!ui.visible.length) return;
  const index = ui.visible.indexOf(ui.selected);
  const next = index < 0 ? 0 : Math.min(ui.visible.length - 1, Math.max(0, index + delta));
  select(ui.visible[next]);
}

// --- Run order ---------------------------------------------------------------------------

function reorder(order) {
  if (!client.can('reorder')) return;
  const previous = new Map();
  order.forEach((id, i) => {
    const q = client.questions.get(id);
    if (!q) return;
    previous.set(id, q.queue_position);
    client.questions.set(id, { ...q, queue_position: i + 1 });
  });
  render();
  client.command('reorder', { order }).catch(() => {
    // Put back the positions we guessed, unless the server has sent newer ones.
    order.forEach((id, i) => {
      const q = client.questions.get(id);
      if (q && q.queue_position === i + 1 && previous.has(id)) {
        client.questions.set(id, { ...q, queue_position: previous.get(id) });
      }
    });
    render();
  });
}

function moveInOrder(id, delta) {
  const order = client.ordered('queued').map((q) => q.id);
  const from = order.indexOf(id);
  const to = from + delta;
  if (from < 0 || to < 0 || to >= order.length) return false;
  order.splice(from, 1);
  order.splice(to, 0, id);
  reorder(order);
  return true;
}

function renderOrder() {
  const queued = client.ordered('queued');
  const canReorder = client.can('reorder');
  const canAir = client.can('on_air');
  const focusedId = document.activeElement && els.order.contains(document.activeElement)
    ? document.activeElement.dataset.testid : null;
  const nodes = queued.map((q, i) => h('li', {
    class: 'order-item',
    'data-testid': `order-${q.id}`,
    'data-id': String(q.id),
    draggable: canReorder,
    tabIndex: 0,
    'aria-label': `${t('position', { n: i + 1 })}: ${q.text}`,
  },
  h('span', { class: 'order-pos', 'aria-hidden': 'true' }, String(i + 1)),
  h('div', { class: 'order-body' },
    h('p', { class: 'order-text' }, q.text),
    h('p', { class: 'order-meta muted' }, [
      `#${q.id}`, label('channels', q.channel), q.asker || t('anonymous'), t('supports_n', { count: q.supports || 0 }),
      q.askers > 1 ? t('askers_n', { count: q.askers }) : null,
    ].filter(Boolean).join(' · '))),
  h('div', { class: 'order-actions' },
    canReorder ? h('button', {
      type: 'button', class: 'icon-button', 'data-testid': `up-${q.id}`, 'aria-label': t('move_up'),
      title: t('move_up'), disabled: i === 0, onclick: () => moveInOrder(q.id, -1),
    }, '↑') : null,
    canReorder ? h('button', {
      type: 'button', class: 'icon-button', 'data-testid': `down-${q.id}`, 'aria-label': t('move_down'),
      title: t('move_down'), disabled: i === queued.length - 1, onclick: () => moveInOrder(q.id, 1),
    }, '↓') : null,
    canAir ? h('button', {
      type: 'button', class: 'button button-small button-live', 'data-testid': `order-onair-${q.id}`,
      disabled: ui.busy.has(q.id) || sessionStatus() !== 'live',
      title: sessionStatus() !== 'live' ? t('not_live') : null,
      onclick: () => act('on_air', q),
    }, t('actions.on_air')) : null)));
  els.order.replaceChildren(...nodes);
  els.orderEmpty.hidden = queued.length > 0;
  if (focusedId) {
    const again = els.order.querySelector(`[data-testid="${CSS.escape(focusedId)}"]`);
    if (again && !again.disabled) again.focus({ preventScroll: true });
  }
}

els.order.addEventListener('keydown', (event) => {
  const li = event.target.closest('.order-item');
  if (!li || !event.altKey || (event.key !== 'ArrowUp' && event.key !== 'ArrowDown')) return;
  event.preventDefault();
  const id = Number(li.dataset.id);
  if (moveInOrder(id, event.key === 'ArrowUp' ? -1 : 1)) {
    render.now();
    els.order.querySelector(`[data-testid="order-${id}"]`)?.focus();
  }
});

// Drag and drop (mouse); touch users have the arrow buttons.
let dragId = null;
els.order.addEventListener('dragstart', (event) => {
  const li = event.target.closest('.order-item');
  if (!li) return;
  dragId = Number(li.dataset.id);
  li.classList.add('dragging');
  event.dataTransfer.effectAllowed = 'move';
  event.dataTransfer.setData('text/plain', String(dragId));
});
function clearDropMarks() {
  for (const el of els.order.querySelectorAll('.drop-before, .drop-after')) el.classList.remove('drop-before', 'drop-after');
}
els.order.addEventListener('dragover', (event) => {
  if (dragId === null) return;
  const li = event.target.closest('.order-item');
  event.preventDefault();
  clearDropMarks();
  if (!li || Number(li.dataset.id) === dragId) return;
  const rect = li.getBoundingClientRect();
  li.classList.add(event.clientY < rect.top + rect.height / 2 ? 'drop-before' : 'drop-after');
});
els.order.addEventListener('drop', (event) => {
  event.preventDefault();
  const li = event.target.closest('.order-item');
  const id = dragId;
  if (li && id !== null && Number(li.dataset.id) !== id) {
    const target = Number(li.dataset.id);
    const after = li.classList.contains('drop-after');
    const order = client.ordered('queued').map((q) => q.id).filter((x) => x !== id);
    const at = order.indexOf(target) + (after ? 1 : 0);
    order.splice(at, 0, id);
    reorder(order);
  }
  clearDropMarks();
});
els.order.addEventListener('dragend', () => {
  dragId = null;
  clearDropMarks();
  for (const el of els.order.querySelectorAll('.dragging')) el.classList.remove('dragging');
});

// --- On air ------------------------------------------------------------------------------

let onAirClock = null;

function renderOnAir() {
  const body = els.onAir.querySelector('[data-role="body"]');
  const q = client.onAir();
  els.onAir.dataset.questionId = q ? String(q.id) : '';
  els.onAir.dataset.empty = q ? 'false' : 'true';
  clearInterval(onAirClock);
  if (!q) {
    body.replaceChildren(h('p', { class: 'muted' }, t('nothing_on_air')));
    return;
  }
  const clock = h('span', { class: 'on-air-clock', 'data-testid': 'on-air-clock' });
  const since = q.answer && q.answer.on_air_at ? Date.parse(q.answer.on_air_at) : null;
  const tick = () => {
    if (!since) return;
    const s = Math.max(0, Math.floor((Date.now() - since) / 1000));
    setText(clock, t('on_air_for', { time: `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}` }));
  };
  tick();
  if (since) onAirClock = setInterval(tick, 1000);
  const busy = ui.busy.has(q.id);
  body.replaceChildren(
    h('div', { class: 'q-item-head' }, badges(q), clock),
    h('p', { class: 'console-on-air-text', 'data-testid': 'console-on-air-text' }, q.text),
    h('p', { class: 'muted' }, q.asker || t('anonymous')),
    h('div', { class: 'answer' }, h('span', { class: 'answer-label' }, t('answer')),
      h('p', { class: 'answer-text', 'data-testid': 'console-live-answer' }, (q.answer && q.answer.summary) || '—')),
    h('div', { class: 'q-item-actions' },
      client.can('off_air') ? h('button', { type: 'button', class: 'button button-small', disabled: busy, 'data-testid': 'onair-panel-off', onclick: () => act('off_air', q) }, t('actions.off_air')) : null,
      // No summary sent: the server keeps the one the leader typed.
      client.can('answered') ? h('button', { type: 'button', class: 'button button-small button-primary', disabled: busy, 'data-testid': 'onair-panel-answered', onclick: () => act('answered', q) }, t('actions.answered')) : null));
}

// --- Counts ------------------------------------------------------------------------------

function localCounts() {
  const byState = {};
  const byChannel = {};
  const byChannelState = {};
  for (const q of client.questions.values()) {
    byState[q.state] = (byState[q.state] || 0) + 1;
    byChannel[q.channel] = (byChannel[q.channel] || 0) + 1;
    byChannelState[q.channel] = byChannelState[q.channel] || {};
    byChannelState[q.channel][q.state] = (byChannelState[q.channel][q.state] || 0) + 1;
  }
  return { by_state: byState, by_channel: byChannel, by_channel_state: byChannelState };
}

function setFilter(select, value) {
  select.value = value;
  render();
}

function renderCounts() {
  const counts = client.counts || localCounts();
  const byState = counts.by_state || {};
  const byChannel = counts.by_channel || {};
  const matrix = counts.by_channel_state || {};
  const total = Object.values(byChannel).reduce((a, b) => a + b, 0);
  const chips = h('div', { class: 'count-chips' }, STATES.map((s) => h('button', {
    type: 'button', class: `count-chip state-${s}`, 'data-testid': `count-state-${s}`, 'data-count': String(byState[s] || 0),
    onclick: () => setFilter(els.filterState, s),
  }, h('span', { class: 'count-label' }, label('states', s)), h('strong', { class: 'count-value' }, String(byState[s] || 0)))));
  const sum = (row, states) => states.reduce((acc, s) => acc + ((row || {})[s] || 0), 0);
  const table = h('table', { class: 'counts-table' },
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, t('channel')),
      h('th', { scope: 'col' }, t('total')),
      COUNT_COLUMNS.map(([key]) => h('th', { scope: 'col' }, t(key))))),
    h('tbody', null, CHANNELS.map((c) => h('tr', { 'data-testid': `count-channel-${c}`, 'data-count': String(byChannel[c] || 0) },
      h('th', { scope: 'row' }, h('button', { type: 'button', class: 'link-button', onclick: () => setFilter(els.filterChannel, c) }, label('channels', c))),
      h('td', null, String(byChannel[c] || 0)),
      COUNT_COLUMNS.map(([, states]) => h('td', null, String(sum(matrix[c], states))))))),
    h('tfoot', null, h('tr', null,
      h('th', { scope: 'row' }, t('total')),
      h('td', { 'data-testid': 'count-total' }, String(total)),
      COUNT_COLUMNS.map(([, states]) => h('td', null, String(sum(byState, states)))))));
  els.counts.querySelector('[data-role="body"]').replaceChildren(chips, table);
}

// --- Session status and permissions ------------------------------------------------------

function renderPermissions() {
  const canModerate = MODERATION.some((a) => client.can(a));
  els.readOnly.hidden = !client.hello || canModerate;
  els.statusActions.hidden = !client.can('set_status');
  renderStatusButtons();
}

// The session's life, as in hub.actions.sessions: announced → collecting → live → ended
// (going live straight from announced is allowed too). Ended is final.
const STATUS_FROM = {
  collecting: ['announced'],
  live: ['announced', 'collecting'],
  ended: ['live'],
};

function renderStatusButtons() {
  const current = sessionStatus();
  for (const button of els.statusActions.querySelectorAll('[data-status]')) {
    const target = button.dataset.status;
    button.disabled = !(STATUS_FROM[target] || []).includes(current);
    button.setAttribute('aria-pressed', target === current ? 'true' : 'false');
  }
}

for (const button of els.statusActions.querySelectorAll('[data-status]')) {
  button.addEventListener('click', async () => {
    const status = button.dataset.status;
    if (status === 'ended' && !(await confirmDialog(t('confirm_end')))) return;
    button.disabled = true;
    try {
      await client.command('set_status', { status });
      toast(t('done', { action: label('statuses', status) }), 'success');
    } catch {
      // Shown as a toast already.
    } finally {
      renderStatusButtons();
    }
  });
}

// --- Dialogs -----------------------------------------------------------------------------

function dialogParts(dialog) {
  return {
    form: dialog.querySelector('[data-role="form"]'),
    error: dialog.querySelector('[data-role="error"]'),
    quote: dialog.querySelector('[data-role="quote"]'),
    qid: dialog.querySelector('[data-role="qid"]'),
    submit: dialog.querySelector('[type="submit"]'),
  };
}

for (const dialog of [els.rejectDialog, els.deferDialog, els.confirmDialog, els.mergeDialog]) {
  dialog.querySelector('[data-role="cancel"]').addEventListener('click', () => dialog.close('cancel'));
  dialog.addEventListener('close', () => {
    // Give the keyboard back to the queue.
    const el = itemCache.get(ui.selected)?.el;
    if (el && el.isConnected) el.focus({ preventScroll: true });
  });
}

function showDialogError(dialog, message) {
  const { error } = dialogParts(dialog);
  if (!error) return;
  error.hidden = !message;
  setText(error, message || '');
}

let dialogQuestion = null;

function openQuestionDialog(dialog, q) {
  dialogQuestion = q;
  const parts = dialogParts(dialog);
  parts.form.reset();
  parts.submit.disabled = false;
  showDialogError(dialog, '');
  setText(parts.qid, `#${q.id}`);
  setText(parts.quote, q.text.length > 200 ? `${q.text.slice(0, 200)}…` : q.text);
  dialog.showModal();
}

function openReject(q) {
  openQuestionDialog(els.rejectDialog, q);
  els.rejectDialog.querySelector('input[name="reason"]')?.focus();
}

function openDefer(q) {
  if (!client.can('defer')) return;
  openQuestionDialog(els.deferDialog, q);
  els.deferDialog.querySelector('textarea').focus();
}

els.rejectDialog.addEventListener('keydown', (event) => {
  if (event.isComposing) return;
  const inNote = event.target.tagName === 'TEXTAREA';
  if (!inNote && /^[1-8]$/.test(event.key)) {
    const radio = els.rejectDialog.querySelectorAll('input[name="reason"]')[Number(event.key) - 1];
    if (radio) {
      radio.checked = true;
      radio.focus();
      event.preventDefault();
    }
  } else if (event.key === 'Enter' && !event.shiftKey) {
    if (event.target.tagName === 'BUTTON') return;
    event.preventDefault();
    dialogParts(els.rejectDialog).form.requestSubmit();
  }
});

els.deferDialog.addEventListener('keydown', (event) => {
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing && event.target.tagName === 'TEXTAREA') {
    event.preventDefault();
    dialogParts(els.deferDialog).form.requestSubmit();
  }
});

dialogParts(els.rejectDialog).form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.currentTarget;
  const reason = form.elements.reason.value;
  const note = form.elements.note.value.trim();
  if (!reason) return showDialogError(els.rejectDialog, t('choose_reason'));
  if (reason === 'other' && !note) {
    form.elements.note.focus();
    return showDialogError(els.rejectDialog, t('note_required'));
  }
  const q = dialogQuestion;
  const submit = dialogParts(els.rejectDialog).submit;
  submit.disabled = true;
  try {
    await client.command('reject', { question: q.id, reason, note });
    els.rejectDialog.close('done');
  } catch (err) {
    showDialogError(els.rejectDialog, err.message);
    submit.disabled = false;
  }
  return undefined;
});

dialogParts(els.deferDialog).form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const note = event.currentTarget.elements.note.value.trim();
  const q = dialogQuestion;
  const submit = dialogParts(els.deferDialog).submit;
  submit.disabled = true;
  try {
    await client.command('defer', { question: q.id, note });
    els.deferDialog.close('done');
  } catch (err) {
    showDialogError(els.deferDialog, err.message);
    submit.disabled = false;
  }
});

// Merge into a question the host names (the suggestions, when there are some, are offered
// as quick picks and the best one is filled in).

function mergeTargetError(q, into) {
  if (!Number.isInteger(into) || into < 1) return t('merge_target_required');
  if (into === q.id) return t('merge_self');
  const target = client.questions.get(into);
  if (!target) return t('merge_unknown', { id: into });
  if (!MERGE_TARGETS.has(target.state)) return t('merge_bad_target', { id: into, state: label('states', target.state) });
  return '';
}

function readMergeTarget() {
  const raw = els.mergeDialog.querySelector('[data-testid="merge-target"]').value.trim().replace(/^#/, '');
  return raw === '' ? null : Number(raw);
}

function updateMergePreview() {
  const preview = els.mergeDialog.querySelector('[data-role="preview"]');
  const into = readMergeTarget();
  const q = dialogQuestion;
  showDialogError(els.mergeDialog, '');
  if (!q || into === null) {
    preview.hidden = true;
    return;
  }
  const target = client.questions.get(into);
  const problem = mergeTargetError(q, into);
  preview.hidden = false;
  preview.classList.toggle('is-invalid', !!problem);
  preview.replaceChildren(...(target && !problem
    ? [h('strong', null, `#${target.id} `), h('span', { class: `badge badge-state state-${target.state}` }, label('states', target.state)), ' ', excerpt(target.text, 200)]
    : [problem]));
}

function openMerge(q) {
  if (!client.can('merge')) return;
  openQuestionDialog(els.mergeDialog, q);
  const input = els.mergeDialog.querySelector('[data-testid="merge-target"]');
  const suggestions = mergeSuggestions(q).filter((ref) => canTakeMerge(ref.id));
  const picks = els.mergeDialog.querySelector('[data-role="suggestions"]');
  picks.hidden = suggestions.length === 0;
  picks.replaceChildren(suggestions.length ? h('span', { class: 'muted' }, `${t('similar_heading')}: `) : null,
    suggestions.map((ref) => h('button', {
      type: 'button', class: 'chip', 'data-testid': `merge-pick-${ref.id}`, title: t('score_help'),
      onclick: () => {
        input.value = String(ref.id);
        updateMergePreview();
        input.focus();
      },
    }, t('similar_to', { id: ref.id, score: score(ref.score) }))));
  input.value = suggestions.length ? String(suggestions[0].id) : '';
  updateMergePreview();
  input.focus();
  input.select();
}

els.mergeDialog.querySelector('[data-testid="merge-target"]').addEventListener('input', updateMergePreview);

dialogParts(els.mergeDialog).form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const q = dialogQuestion;
  const into = readMergeTarget();
  const problem = mergeTargetError(q, into);
  if (problem) {
    els.mergeDialog.querySelector('[data-testid="merge-target"]').focus();
    showDialogError(els.mergeDialog, problem);
    return;
  }
  const submit = dialogParts(els.mergeDialog).submit;
  submit.disabled = true;
  try {
    await client.command('merge', { question: q.id, into });
    els.mergeDialog.close('done');
    toast(t('merged_done', { id: q.id, into }), 'success');
  } catch (err) {
    showDialogError(els.mergeDialog, err.message);
    submit.disabled = false;
  }
});

function confirmDialog(message) {
  const dialog = els.confirmDialog;
  setText(dialog.querySelector('[data-role="message"]'), message);
  return new Promise((resolve) => {
    const form = dialog.querySelector('[data-role="form"]');
    const onSubmit = (event) => {
      event.preventDefault();
      dialog.close('ok');
    };
    form.addEventListener('submit', onSubmit);
    dialog.addEventListener('close', () => {
      form.removeEventListener('submit', onSubmit);
      resolve(dialog.returnValue === 'ok');
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    dialog.querySelector('[data-role="cancel"]').focus();
  });
}

// --- Keyboard shortcuts ------------------------------------------------------------------

function isTyping(target) {
  if (!target || !(target instanceof Element)) return false;
  if (target.isContentEditable) return true;
  if (target.tagName === 'TEXTAREA' || target.tagName === 'SELECT') return true;
  if (target.tagName === 'INPUT') {
    return !['checkbox', 'radio', 'button', 'submit', 'reset'].includes(target.type);
  }
  return false;
}

document.addEventListener('keydown', (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
  if (isTyping(event.target) || document.querySelector('dialog[open]')) return;
  const q = ui.selected !== null ? client.questions.get(ui.selected) : null;
  let handled = true;
  switch (event.key) {
    case 'j': moveSelection(1); break;
    case 'k': moveSelection(-1); break;
    case 'J': if (q && q.state === 'queued') moveInOrder(q.id, 1); break;
    case 'K': if (q && q.state === 'queued') moveInOrder(q.id, -1); break;
    case 'a': run('approve', q); break;
    case 'r': run('reject', q); break;
    case 'q': run('queue', q); break;
    case 'o': run(q && q.state === 'on_air' ? 'off_air' : 'on_air', q); break;
    case 'd': run('defer', q); break;
    case 'm': mergeBest(q); break;
    case 'M': run('merge', q); break;
    case 'u': run('unmerge', q); break;
    default: handled = false;
  }
  if (handled) event.preventDefault();
});

for (const control of [els.filterChannel, els.filterState]) control.addEventListener('change', resetPage);
els.filterText.addEventListener('input', resetPage);
if (els.filterMerged) els.filterMerged.addEventListener('change', resetPage);
if (els.sortQueue) els.sortQueue.addEventListener('change', resetPage);

// --- Render ------------------------------------------------------------------------------

let library = null; // the answer library panel, mounted once the client exists

function renderAll() {
  renderQueue();
  renderOrder();
  renderOnAir();
  renderCounts();
  library?.update(ui.selected !== null ? client.questions.get(ui.selected) : null);
}

const render = rafThrottle(renderAll);
render.now = renderAll;

const client = startConsole((kind) => {
  if (kind === 'hello') {
    ui.version += 1;
    renderPermissions();
  }
  if (kind === 'snapshot') ui.ready = true;
  if (kind === 'snapshot' || kind === 'session') {
    ui.version += 1; // the buttons offered depend on the session status
    renderStatusButtons();
  }
  render();
});

library = libraryPanel(document.querySelector('[data-testid="library-panel"]'), client);
render();

// For debugging from the browser's developer tools.
window.hubConsole = { client };
