// The banner and the status line: what the page is doing, rendered from the page state.

import { wakeName } from './settings.js';
import { TOUCH, app, engine, ui } from './state.js';

// --- banner and status --------------------------------------------------------------------------

let bannerSource = null;
let bannerRun = null;

export function showBanner(source, text, action) {
  bannerSource = source;
  ui.bannerText.textContent = text;
  bannerRun = action?.run ?? null;
  ui.bannerAction.hidden = !action;
  ui.bannerAction.textContent = action?.label ?? '';
  ui.banner.hidden = false;
}

export function hideBanner(source) {
  if (source && source !== bannerSource) return;
  ui.banner.hidden = true;
  bannerSource = null;
}
ui.bannerAction.addEventListener('click', () => bannerRun?.());
ui.bannerClose.addEventListener('click', () => hideBanner());

export function state() {
  if (app.link === 'auth') return 'auth';
  if (app.link === 'disconnected') return 'disconnected';
  if (app.link === 'reconnecting') return 'reconnecting';
  if (app.link !== 'open' || !app.ready) return 'connecting';
  if (app.micError) return 'error';
  if (app.holding || app.speech) return 'listening';
  if (engine.isPlaying) return 'speaking';
  if (app.awaiting || app.turn) return 'thinking';
  return 'ready';
}

const LABELS = {
  auth: 'Access token needed',
  disconnected: 'Disconnected',
  reconnecting: 'Reconnecting…',
  connecting: 'Connecting…',
  error: 'Microphone unavailable',
  thinking: 'Thinking…',
  speaking: 'Speaking…',
};

export const stateLog = []; // recent states, oldest first: lets tests see short-lived ones like `reconnecting`

export function render() {
  const current = state();
  const vad = app.settings.mode === 'vad';
  let label = LABELS[current];
  if (current === 'listening') label = vad ? 'Hearing you…' : 'Listening… release to send';
  if (current === 'ready') {
    const wake = vad && app.wakeArmed && app.session?.wake_word;
    label = !vad ? 'Ready' : app.paused ? 'Paused' : wake ? `Say “${wakeName(wake)}” to talk`
      : 'Listening for speech';
  }
  if (ui.status.dataset.state !== current) {
    stateLog.push(current);
    if (stateLog.length > 50) stateLog.shift();
  }
  if (ui.status.dataset.state !== current || ui.statusText.textContent !== label) {
    ui.status.dataset.state = current;
    ui.statusText.textContent = label;
  }
  document.body.dataset.state = current;
  document.body.dataset.mode = app.settings.mode;

  for (const input of ui.modes) input.checked = input.value === app.settings.mode;
  const online = app.link === 'open' && app.ready !== null;
  const asleep = app.link === 'disconnected';
  ui.talk.disabled = !online && !asleep; // asleep, a press reconnects
  if (asleep) {
    ui.talk.setAttribute('aria-pressed', 'false');
    ui.talkLabel.textContent = 'Reconnect';
    ui.talk.setAttribute('aria-label', 'Reconnect to the server');
    ui.hint.textContent = 'Not connected.';
  } else if (vad) {
    ui.talk.setAttribute('aria-pressed', String(!app.paused));
    ui.talkLabel.textContent = app.paused ? 'Resume' : 'Pause';
    ui.talk.setAttribute('aria-label', app.paused ? 'Resume hands-free listening' : 'Pause hands-free listening');
    ui.hint.textContent = app.paused ? 'Listening is paused.' : 'Hands-free: just talk. The mic is open.';
  } else {
    ui.talk.setAttribute('aria-pressed', String(app.holding !== null));
    ui.talkLabel.textContent = app.holding ? 'Release to send' : 'Hold to talk';
    ui.talk.setAttribute('aria-label', 'Push to talk: hold this button or the Space bar while speaking');
    ui.hint.textContent = TOUCH ? 'Hold the button while you speak, then let go.'
      : 'Hold the button, or hold Space, while you speak. Esc stops the reply.';
  }
  ui.talk.classList.toggle('live', current === 'listening' || (vad && !app.paused && online));
  ui.stop.disabled = !(online && (app.turn !== null || engine.isPlaying));
  ui.textInput.disabled = !online;
  ui.textForm.querySelector('button').disabled = !online;
}
