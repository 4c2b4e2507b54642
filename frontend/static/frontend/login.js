// Staff sign-in: POST the credentials as JSON, then go to the page asked for (?next=, checked
// by the server when rendering this page).

import { CONFIG, t, setText, byTestId } from './common.js';
import { api, ApiError } from './api.js';

const form = byTestId('login-form');
const username = byTestId('login-username');
const password = byTestId('login-password');
const submit = byTestId('login-submit');
const error = byTestId('login-error');

function showError(message) {
  error.hidden = !message;
  setText(error, message || '');
}

/** Only same-site paths: never follow ?next= to another host. */
function safeNext(value) {
  return typeof value === 'string' && value.startsWith('/') && !value.startsWith('//') && !value.startsWith('/\\')
    ? value : '/';
}

form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const body = { username: username.value.trim(), password: password.value };
  if (!body.username || !body.password) {
    showError(t('login_failed'));
    (body.username ? password : username).focus();
    return;
  }
  submit.disabled = true;
  const label = submit.textContent;
  setText(submit, t('signing_in'));
  showError('');
  try {
    await api('/auth/login', { method: 'POST', body });
    window.location.assign(safeNext(CONFIG.next));
  } catch (err) {
    const message = err instanceof ApiError && err.status === 401
      ? (err.message || t('login_failed')) : (err.message || t('network_error'));
    showError(message);
    password.value = '';
    password.focus();
    submit.disabled = false;
    setText(submit, label);
  }
});
