// The open moderation record on the viewer page: counts per channel of what happened to
// every question (GET /api/sessions/{slug}/record), refreshed every 15 seconds.

import { CONFIG, t, label, h, byTestId } from './common.js';
import { api } from './api.js';

const REFRESH_MS = 15000;
const COLUMNS = ['received', 'merged', 'approved', 'rejected_total', 'answered', 'deferred', 'unanswered', 'pending'];

function row(name, data, isTotal) {
  return h('tr', { class: isTotal ? 'record-total' : null, 'data-testid': `record-${isTotal ? 'total' : name}` },
    h('th', { scope: 'row' }, isTotal ? t('total') : label('channels', name)),
    COLUMNS.map((key) => h('td', { 'data-testid': `record-${isTotal ? 'total' : name}-${key}` }, String(data[key] || 0))));
}

function render(record) {
  const body = byTestId('record-table').querySelector('tbody');
  const rows = Object.entries(record.by_channel)
    .filter(([, data]) => data.received > 0)
    .map(([name, data]) => row(name, data, false));
  rows.push(row('total', record.total, true));
  body.replaceChildren(...rows);
  const reasons = Object.entries(record.total.rejected)
    .map(([reason, n]) => `${label('reasons', reason)} ${n}`);
  byTestId('record-reasons').textContent = reasons.length ? `${t('not_accepted_by_reason')}: ${reasons.join(' · ')}` : '';
}

async function refresh() {
  try {
    render(await api(`/sessions/${encodeURIComponent(CONFIG.slug)}/record`));
  } catch {
    // Keep the last figures; the next refresh tries again.
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
