// The user's controls: microphone, push-to-talk (button and Space), hands-free, Esc, typed text.

import { MicError } from './audio.js';
import { wake } from './link.js';
import { cancelReply, replyActive } from './playback.js';
import { saveSettings } from './settings.js';
import { PREROLL_FRAMES, app, connection, engine, send, ui } from './state.js';
import { hideBanner, render, showBanner } from './status.js';

function streaming() {
  return app.settings.mode === 'vad' ? !app.paused : app.holding !== null;
}

engine.addEventListener('frame', ({ detail }) => {
  ui.talk.style.setProperty('--level', Math.min(1, detail.level * 6).toFixed(3));
  if (streaming() && connection.sendAudio(detail.pcm)) {
    app.sentBytes += detail.pcm.byteLength;
    app.recent = [];
  } else {
    app.recent.push(detail.pcm);
    if (app.recent.length > PREROLL_FRAMES) app.recent.shift();
  }
});

engine.addEventListener('micended', () => {
  showMicError(new MicError('failed', 'The microphone stopped (unplugged or taken away). Press Talk to retry.'));
});

// --- microphone, push-to-talk, hands-free -----------------------------------------------------------

function showMicError(error) {
  app.micError = error instanceof MicError ? error : new MicError('failed', String(error));
  app.holding = null;
  showBanner('mic', app.micError.message, { label: 'Try again', run: retryMic });
  render();
}

function retryMic() {
  app.micError = null;
  hideBanner('mic');
  engine.unlock();
  engine.startMic().then(render, showMicError);
}

function press(source) {
  if (wake()) return; // reconnecting: talking starts once the server is back
  if (app.holding || app.settings.mode !== 'push_to_talk' || app.link !== 'open') return;
  app.holding = source;
  engine.unlock();
  // Talking over the assistant: stop it at once rather than wait for the server to hear speech.
  if (replyActive()) cancelReply();
  for (const frame of app.recent) {
    if (connection.sendAudio(frame)) app.sentBytes += frame.byteLength;
  }
  app.recent = [];
  if (app.micError) {
    app.micError = null;
    hideBanner('mic');
  }
  engine.startMic().catch(showMicError);
  render();
}

function release(source) {
  if (!app.holding || (source && app.holding !== source)) return;
  app.holding = null;
  if (send({ type: 'input.commit' })) app.awaiting = true;
  render();
}

export function startHandsFree() {
  app.paused = false;
  engine.unlock();
  engine.startMic().then(render, showMicError);
  if (!engine.running) {
    showBanner('sound', 'Click or tap anywhere to start hands-free listening.');
  }
}

function setMode(mode) {
  if (mode === app.settings.mode) return;
  if (app.holding) release();
  app.settings.mode = mode;
  saveSettings(app.settings);
  send({ type: 'session.update', session: { turn_mode: mode } });
  if (mode === 'vad') startHandsFree();
  render();
}

ui.talk.addEventListener('pointerdown', (event) => {
  if (event.button !== 0) return;
  if (app.settings.mode === 'vad') return; // a click toggles hands-free listening
  event.preventDefault();
  ui.talk.setPointerCapture(event.pointerId);
  press('pointer');
});
for (const type of ['pointerup', 'pointercancel', 'lostpointercapture']) {
  ui.talk.addEventListener(type, () => release('pointer'));
}
ui.talk.addEventListener('contextmenu', (event) => event.preventDefault()); // long-press menus on phones
ui.talk.addEventListener('click', () => {
  if (app.settings.mode !== 'vad' || wake()) return;
  app.paused = !app.paused;
  // Pausing mid-sentence: the server would otherwise wait for silence that never comes.
  if (app.paused) send({ type: 'input.commit' });
  else startHandsFree();
  render();
});

function typingInto(target) {
  return target instanceof HTMLElement
    && (target.isContentEditable || target.closest('input, textarea, select, dialog, [role="textbox"]'));
}

function spaceIsOurs(event) {
  // Space on another focused control keeps its own meaning (activate a button, tick a box).
  if (event.code !== 'Space' || event.ctrlKey || event.altKey || event.metaKey) return false;
  const target = event.target;
  if (typingInto(target)) return false;
  if (target instanceof HTMLElement && target !== ui.talk && target.closest('button, a, summary, label')) {
    return false;
  }
  return true;
}

function unlockAudio() {
  // Any gesture may unlock sound; browsers refuse AudioContext.resume() outside one.
  if (engine.running) return;
  engine.unlock().then(() => {
    if (engine.running) hideBanner('sound');
    render();
  });
}

document.addEventListener('keydown', (event) => {
  unlockAudio();
  if (event.key === 'Escape' && !typingInto(event.target) && !ui.stop.disabled) {
    cancelReply();
    return;
  }
  if (app.settings.mode !== 'push_to_talk' || !spaceIsOurs(event)) return;
  event.preventDefault();
  if (!event.repeat) press('key');
});
document.addEventListener('keyup', (event) => {
  if (event.code !== 'Space' || app.holding !== 'key') return;
  event.preventDefault();
  release('key');
});
window.addEventListener('blur', () => release()); // a key-up we will never see
document.addEventListener('pointerdown', unlockAudio, { capture: true });

ui.modes.forEach((input) => input.addEventListener('change', () => {
  if (input.checked) setMode(input.value);
}));

ui.stop.addEventListener('click', () => cancelReply());

ui.textForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const text = ui.textInput.value.trim();
  if (!text) return;
  engine.unlock();
  if (replyActive()) cancelReply();
  if (send({ type: 'text', text })) {
    app.awaiting = true;
    ui.textInput.value = '';
  }
  render();
});
