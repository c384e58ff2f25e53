// The connection's life: connecting, retries, refusals, idle suspension and wake-up, the access token.

import { stopPlayback } from './playback.js';
import { app, connection, conversation, send, ui } from './state.js';
import { hideBanner, render, showBanner } from './status.js';

// --- the connection -----------------------------------------------------------------------------

connection.addEventListener('connecting', () => {
  if (app.link !== 'reconnecting') app.link = 'connecting';
  render();
});
connection.addEventListener('open', () => {
  app.link = 'open';
  render();
});
connection.addEventListener('retry', ({ detail }) => {
  app.link = 'reconnecting';
  resetTurnState();
  app.retry = { at: Date.now() + detail.delay, attempt: detail.attempt, message: detail.message };
  updateRetryBanner();
  render();
});
connection.addEventListener('refused', ({ detail }) => {
  app.link = 'disconnected';
  resetTurnState();
  showBanner('link', detail.message, { label: 'Try again', run: () => connection.retryNow() });
  render();
});
connection.addEventListener('suspended', () => {
  app.link = 'disconnected';
  resetTurnState();
  showBanner('link', 'Disconnected after a long time without activity.', { label: 'Reconnect', run: wake });
  render();
});

/** Reconnect a connection that was let go (idle); any gesture towards talking does it. */
export function wake() {
  if (app.link !== 'disconnected') return false;
  hideBanner('link');
  app.link = 'connecting';
  connection.connect();
  render();
  return true;
}
document.addEventListener('visibilitychange', () => {
  if (document.visibilityState === 'visible') wake();
});
// The server closes connections silent for a long while (idle_timeout_s). A page someone is looking at
// stays connected; a hidden tab is let go, and reconnects when shown again.
setInterval(() => {
  if (connection.open && document.visibilityState === 'visible') send({ type: 'ping', id: 'keepalive' });
}, 60000);
connection.addEventListener('auth', ({ detail }) => {
  app.link = 'auth';
  resetTurnState();
  ui.tokenMessage.textContent = detail.hadToken
    ? 'The server did not accept the saved access token. Enter a new one.'
    : 'This server needs an access token. Ask whoever runs it.';
  ui.tokenInput.value = '';
  // The dialog can be dismissed (Escape); the banner keeps a way back to it.
  showBanner('link', 'This server needs an access token.', { label: 'Enter token', run: askToken });
  askToken();
  render();
});

function resetTurnState() {
  if (app.holding) app.holding = null;
  app.speech = false;
  app.awaiting = false;
  app.ready = null;
  if (app.turn) conversation.note('The connection dropped during this turn.', 'error');
  app.turn = null;
  stopPlayback();
}

function updateRetryBanner() {
  if (!app.retry) return;
  const seconds = Math.max(0, Math.ceil((app.retry.at - Date.now()) / 1000));
  const why = app.retry.message || 'Can’t reach the server.';
  showBanner('link', `${why} Reconnecting in ${seconds} s (attempt ${app.retry.attempt})…`,
    { label: 'Retry now', run: () => connection.retryNow() });
}
setInterval(() => {
  if (app.link === 'reconnecting') updateRetryBanner();
}, 1000);
window.addEventListener('online', () => {
  if (app.link === 'reconnecting') connection.retryNow();
});

function askToken() {
  if (!ui.tokenDialog.open) ui.tokenDialog.showModal();
}

ui.tokenForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const token = ui.tokenInput.value.trim();
  if (!token) return;
  ui.tokenDialog.close();
  hideBanner('link');
  app.link = 'connecting';
  connection.setToken(token);
  render();
});
ui.tokenForget.addEventListener('click', () => {
  connection.setToken(null);
  ui.settingsDialog.close();
});
