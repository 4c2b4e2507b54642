// Glue shared by the staff pages (console, leader screen, screener): opens the console
// stream, shows the connection banner, the signed-in user, the session header and every
// error the server sends as a toast.

import { CONFIG, T, t, label, setText, byTestId, toast, setStatusBadge } from './common.js';
import { ConsoleClient, CLOSE_UNKNOWN_SESSION } from './live.js';

/**
 * Start the console client for this page's session. `onChange(kind, payload)` receives every
 * client event (see ConsoleClient) after the shared parts of the page are updated.
 */
export function startConsole(onChange = () => {}) {
  const banner = byTestId('reconnecting');
  const fatal = byTestId('fatal');
  const hello = byTestId('hello');
  const client = new ConsoleClient({
    slug: CONFIG.slug,
    base: CONFIG.ws || '/ws',
    messages: T,
    listener: (kind, payload) => {
      switch (kind) {
        case 'status':
          showConnection(payload);
          break;
        case 'hello':
          if (hello) {
            const roles = (payload.roles || []).map((r) => label('roles', r)).join('、');
            setText(hello, t('signed_in_as', { user: payload.user, roles }));
          }
          break;
        case 'snapshot':
          showSession(payload.session);
          break;
        case 'session':
          showSession(payload);
          break;
        case 'error':
          if (payload && payload.message) toast(payload.message, 'error');
          break;
        default:
          break;
      }
      onChange(kind, payload);
    },
  });

  function showConnection(status) {
    document.body.dataset.connection = status.state;
    if (banner) {
      if (status.state === 'reconnecting') {
        banner.hidden = false;
        const seconds = status.delay ? Math.round(status.delay / 1000) : 0;
        setText(banner.querySelector('[data-role="text"]') || banner,
          seconds > 1 ? t('reconnecting_in', { seconds }) : t('reconnecting'));
      } else if (status.state === 'open' || status.state === 'stopped') {
        banner.hidden = true;
      }
    }
    if (status.state === 'stopped' && fatal && status.code) {
      fatal.hidden = false;
      setText(fatal, status.code === CLOSE_UNKNOWN_SESSION ? t('session_not_found') : t('forbidden_ws'));
    }
  }

  client.start();
  return client;
}

/** Update the title and status badge of a staff page from a SessionInfo. */
export function showSession(session) {
  if (!session) return;
  setText(byTestId('session-title'), session.title);
  setStatusBadge(byTestId('session-status'), session.status);
  document.body.dataset.sessionStatus = session.status;
}
