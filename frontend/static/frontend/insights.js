// Insights of a session (GET /api/sessions/{slug}/insights), refreshed every 10 seconds:
// a word cloud of the hot words (font size and colour by heat) and a horizontal bar chart
// of the questions per sector, drawn with CSS bars. Both read as plain text too: the words
// are listed in order of heat and every bar row carries its label and count.
// Used by the viewer page and the host console; it fills [data-testid=hot-words] and
// [data-testid=sector-chart] wherever the page has them.

import { CONFIG, t, label, h, byTestId } from './common.js';
import { api } from './api.js';

const REFRESH_MS = 10000;
const MIN_REM = 0.9;
const MAX_REM = 2.4;

function clamp01(value) {
  const n = Number(value);
  return Number.isFinite(n) ? Math.min(1, Math.max(0, n)) : 0;
}

function renderWords(box, words) {
  const list = (Array.isArray(words) ? words : [])
    .filter((w) => w && typeof w.word === 'string' && w.word)
    .sort((a, b) => clamp01(b.heat) - clamp01(a.heat));
  if (!list.length) {
    box.replaceChildren(h('span', { class: 'muted insights-empty' }, t('no_hot_words')));
    return;
  }
  box.replaceChildren(...list.map((w, i) => {
    const heat = clamp01(w.heat);
    const el = h('span', {
      class: `hot-word${heat >= 0.66 ? ' is-hot' : ''}`,
      'data-testid': `hot-word-${i + 1}`,
      'data-heat': heat.toFixed(2),
      title: t('heat_n', { heat: Math.round(heat * 100) }),
    }, w.word);
    el.style.fontSize = `${(MIN_REM + (MAX_REM - MIN_REM) * heat).toFixed(2)}rem`;
    // From a calm blue (cool) to the red of the page (hottest).
    el.style.color = `hsl(${Math.round(214 - 216 * heat)}, ${Math.round(55 + 25 * heat)}%, ${Math.round(38 - 4 * heat)}%)`;
    return el;
  }));
}

function renderSectors(chart, sectors) {
  const rows = Object.entries(sectors && typeof sectors === 'object' ? sectors : {})
    .map(([code, n]) => [code, Number(n) || 0])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1] || label('sectors', a[0]).localeCompare(label('sectors', b[0])));
  if (!rows.length) {
    chart.replaceChildren(h('li', { class: 'muted insights-empty' }, t('no_sectors')));
    return;
  }
  const max = rows[0][1];
  const total = rows.reduce((sum, [, n]) => sum + n, 0);
  chart.replaceChildren(...rows.map(([code, n]) => {
    const bar = h('span', { class: `sector-bar sector-bar-${code}`, 'aria-hidden': 'true' });
    bar.style.width = `${Math.max(2, Math.round((n / max) * 100))}%`;
    return h('li', { class: 'sector-row', 'data-testid': `sector-${code}`, 'data-count': String(n) },
      h('span', { class: 'sector-label' }, label('sectors', code)),
      h('span', { class: 'sector-track' }, bar),
      h('span', { class: 'sector-count' }, String(n),
        h('span', { class: 'visually-hidden' }, ` ${t('sector_share', { percent: Math.round((n / total) * 100) })}`)));
  }));
}

async function refresh() {
  const words = byTestId('hot-words');
  const chart = byTestId('sector-chart');
  if (!words && !chart) return;
  try {
    const data = await api(`/sessions/${encodeURIComponent(CONFIG.slug)}/insights`);
    if (words) renderWords(words, data && data.hot_words);
    if (chart) renderSectors(chart, data && data.sectors);
  } catch {
    // Keep the last picture; the next refresh tries again.
  }
}

if (CONFIG.slug) {
  refresh();
  setInterval(refresh, REFRESH_MS);
}
