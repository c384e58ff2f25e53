// The page's controller: maps UI gestures to the /ws protocol (docs/protocol.md) and server events to
// the UI. Audio work lives in worklets (audio.js), the socket in connection.js, rendering in
// conversation.js and media-panel.js.

import { AudioEngine, MicError } from './audio.js';
import { Connection } from './connection.js';
import { Conversation } from './conversation.js';
import { MediaPanel } from './media-panel.js';
import { loadSettings, saveSettings, sessionUpdate } from './settings.js';
import { Uploads } from './uploads.js';

const FALLBACK_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
const REPORT_EVERY_MS = 500;
const PREROLL_FRAMES = 10; // 200 ms of audio from before a push-to-talk press: first words not clipped
const KEEP_EVENTS = 1000; // a long reply alone is hundreds of text deltas
const TOUCH = matchMedia('(pointer: coarse)').matches; // phones: no Space bar to mention

const $ = (selector) => document.querySelector(selector);
const ui = {
  status: $('#status'),
  statusText: $('#status-text'),
  banner: $('#banner'),
  bannerText: $('#banner-text'),
  bannerAction: $('#banner-action'),
  bannerClose: $('#banner-close'),
  talk: $('#talk'),
  talkLabel: $('#talk-label'),
  hint: $('#hint'),
  stop: $('#stop'),
  modes: [...document.querySelectorAll('input[name="mode"]')],
  textForm: $('#text-form'),
  textInput: $('#text-input'),
  settingsButton: $('#settings-button'),
  settingsDialog: $('#settings-dialog'),
  settingsForm: $('#settings-form'),
  settingsReset: $('#settings-reset'),
  settingsCancel: $('#settings-cancel'),
  serverInfo: $('#server-info'),
  tokenDialog: $('#token-dialog'),
  tokenForm: $('#token-form'),
  tokenInput: $('#token-input'),
  tokenMessage: $('#token-message'),
  tokenForget: $('#token-forget'),
};

const engine = new AudioEngine();
const connection = new Connection();
const conversation = new Conversation($('#log'), $('#announcer'));
const media = new MediaPanel($('#media'), (event) => send(event));
const uploads = new Uploads($('#uploads'), {
  send: (event) => send(event),
  token: () => connection.token,
  ask: (text) => {
    ui.textInput.value = text;
    ui.textForm.requestSubmit();
  },
});

const app = {
  settings: loadSettings(),
  ready: null, // the server's `ready` event
  session: null, // settings in force (session.updated)
  link: 'connecting', // connecting | open | reconnecting | auth
  everReady: false,
  holding: null, // 'pointer' | 'key' while push-to-talk is held
  paused: false, // hands-free listening paused by the user
  speech: false, // the server heard speech start and not yet stop
  awaiting: false, // an utterance or text was sent and its turn has not started
  turn: null, // the turn in progress (transcript .. turn.done)
  audioTurn: null, // the turn whose binary frames are arriving
  stoppedTurns: new Map(), // turnId -> played ms, for turns stopped early
  lastReport: new Map(), // turnId -> time of the last periodic playback report
  micError: null,
  sentBytes: 0,
  recent: [], // unsent frames, for the push-to-talk pre-roll
  events: [],
  sent: [],
  retry: null, // {at, attempt}
};

// --- sending ------------------------------------------------------------------------------------

function send(event) {
  const ok = connection.send(event);
  if (ok) remember(app.sent, event);
  return ok;
}

function remember(list, event) {
  list.push(event);
  if (list.length > KEEP_EVENTS) list.splice(0, list.length - KEEP_EVENTS);
}

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

// --- playback reports ---------------------------------------------------------------------------

engine.addEventListener('progress', ({ detail }) => {
  const now = performance.now();
  if (now - (app.lastReport.get(detail.turnId) ?? 0) >= REPORT_EVERY_MS) {
    app.lastReport.set(detail.turnId, now);
    send({ type: 'playback', turn_id: detail.turnId, played_ms: detail.playedMs });
  }
  render();
});

engine.addEventListener('ended', ({ detail }) => {
  app.lastReport.delete(detail.turnId);
  send({ type: 'playback', turn_id: detail.turnId, played_ms: detail.playedMs, done: true });
  render();
});

/** Stop all reply audio now and tell the server how much of each turn was heard. */
async function stopPlayback(turnId, reason = 'cancel') {
  if (app.audioTurn) app.stoppedTurns.set(app.audioTurn, app.stoppedTurns.get(app.audioTurn) ?? 0);
  app.audioTurn = null;
  const turns = await engine.stopReplies();
  for (const { turnId: id, playedMs } of turns) {
    app.stoppedTurns.set(id, playedMs);
    app.lastReport.delete(id);
    send({ type: 'playback', turn_id: id, played_ms: playedMs });
    conversation.cutAfterDone(id, playedMs, reason);
  }
  // A reply.stop for a turn already stopped here (e.g. after our own cancel): say it again.
  if (turnId && !turns.some((t) => t.turnId === turnId)) {
    send({ type: 'playback', turn_id: turnId, played_ms: app.stoppedTurns.get(turnId) ?? 0 });
  }
  if (app.stoppedTurns.size > 50) app.stoppedTurns.delete(app.stoppedTurns.keys().next().value);
  render();
}

function replyActive() {
  return app.turn !== null || engine.isPlaying || app.awaiting;
}

function cancelReply() {
  // reply.cancel goes first: the server marks the turn interrupted, then our playback report trims it.
  if (app.turn !== null || engine.isPlaying) send({ type: 'reply.cancel' });
  // Audio of this turn may already be on its way: it must not start playing after the stop.
  if (app.turn !== null && !app.stoppedTurns.has(app.turn)) app.stoppedTurns.set(app.turn, 0);
  return stopPlayback();
}

// --- server events ------------------------------------------------------------------------------

connection.addEventListener('event', ({ detail }) => handleEvent(detail));
connection.addEventListener('audio', ({ detail }) => {
  if (app.audioTurn && !app.stoppedTurns.has(app.audioTurn)) engine.pushReply(app.audioTurn, detail);
});

function handleEvent(event) {
  if (!event || typeof event.type !== 'string') return;
  remember(app.events, event);
  const handler = HANDLERS[event.type];
  if (handler) handler(event);
  render();
}

const HANDLERS = {
  ready(event) {
    app.ready = event;
    app.session = event.session;
    if (app.everReady) conversation.note('Reconnected. This is a new session: the server starts afresh.');
    app.everReady = true;
    app.retry = null;
    hideBanner('link');
    showServerInfo();
    sendSessionUpdate();
    if (app.settings.mode === 'vad') startHandsFree();
    loadMediaJobs();
    uploads.connected();
  },
  'session.updated'(event) {
    app.session = event.session;
    showServerInfo();
  },
  'speech.started'() {
    app.speech = true;
  },
  'speech.stopped'(event) {
    app.speech = false;
    if (event.ignored) conversation.clearPartial();
    if (!event.ignored) app.awaiting = true;
  },
  'input.committed'(event) {
    if (!event.speech) {
      app.awaiting = false;
      conversation.clearPartial();
      if (app.settings.mode === 'push_to_talk') {
        conversation.note('No speech was heard. Hold the button (or Space) while you talk.');
      }
    }
  },
  'transcript.partial'(event) {
    conversation.partial(event.text);
  },
  transcript(event) {
    app.awaiting = false;
    app.turn = event.turn_id;
    conversation.user(event.turn_id, event.text, event.source);
  },
  'transcript.ignored'(event) {
    app.awaiting = false;
    conversation.clearPartial();
    conversation.note(event.reason === 'no_speech' || event.reason === 'empty'
      ? 'I didn’t catch any words there.' : 'That sounded like noise, so I ignored it.');
  },
  'reply.started'(event) {
    // Turns without a transcript exist too: a media button, or a notice the assistant says unprompted.
    app.turn ??= event.turn_id;
    app.awaiting = false;
    conversation.replyStarted(event.turn_id);
  },
  'reply.text.delta'(event) {
    conversation.delta(event.turn_id, event.delta);
  },
  'reply.audio.start'(event) {
    if (app.stoppedTurns.has(event.turn_id)) return;
    app.audioTurn = event.turn_id;
    engine.startReply(event.turn_id, event.rate);
    if (!engine.running) showBanner('sound', 'The browser is holding back sound. Click or tap anywhere to hear replies.');
  },
  'reply.stop'(event) {
    if (!app.stoppedTurns.has(event.turn_id)) app.stoppedTurns.set(event.turn_id, 0);
    stopPlayback(event.turn_id, event.reason);
  },
  'turn.done'(event) {
    if (app.turn === event.turn_id) app.turn = null;
    app.awaiting = false;
    if (app.audioTurn === event.turn_id) {
      engine.endReply(event.turn_id); // all its frames came before turn.done
      app.audioTurn = null;
    }
    conversation.done(event);
    if (event.status === 'failed' && event.error) conversation.note(`That turn failed (${event.error}).`, 'error');
  },
  error(event) {
    if (event.code === 'idle_timeout') {
      connection.suspend(); // the server closes next; reconnect only when someone is back
      return;
    }
    const message = event.code === 'invalid_session'
      ? `The server rejected a setting: ${event.message}`
      : `${event.message || 'Something went wrong'} (${event.code})`;
    if (event.turn_id) conversation.note(message, 'error');
    else showBanner('server', message);
  },
  'media.job'(event) {
    media.handle(event);
  },
  'media.attached'(event) {
    uploads.handle(event);
  },
};

async function loadMediaJobs() {
  // Jobs started earlier (or from another device) are listed once; `media.job` events keep them fresh.
  try {
    const headers = connection.token ? { Authorization: `Bearer ${connection.token}` } : {};
    const response = await fetch('api/jobs?limit=20', { headers, cache: 'no-store' });
    if (!response.ok) return; // an older server without the media API, or media switched off
    const { jobs } = await response.json();
    if (Array.isArray(jobs)) [...jobs].reverse().forEach((job) => media.handle({ job }));
  } catch {
    // Offline or not JSON: the panel fills from live events instead.
  }
}

function sendSessionUpdate() {
  const session = sessionUpdate(app.settings);
  const rates = app.ready?.limits?.input_rates || FALLBACK_RATES;
  session.input_audio = { format: 'pcm16', rate: engine.captureRate };
  // Reply audio at the context's own rate plays without resampling; otherwise the worklet resamples.
  const rate = rates.includes(engine.sampleRate) ? engine.sampleRate : 24000;
  session.output_audio = { format: 'pcm16', rate };
  send({ type: 'session.update', session });
}

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
function wake() {
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

function startHandsFree() {
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

// --- settings -----------------------------------------------------------------------------------

function fillSettingsForm() {
  const form = ui.settingsForm.elements;
  const defaults = app.ready?.session || app.session || {};
  form.voice.value = app.settings.voice;
  form.language.value = app.settings.language;
  form.system_prompt.value = app.settings.system_prompt;
  form.voice.placeholder = `Server default${defaults.voice ? ` (${defaults.voice})` : ''}`;
  form.language.placeholder = `Server default${defaults.language ? ` (${defaults.language})` : ''}`;
  form.system_prompt.placeholder = defaults.system_prompt || 'Server default';
  $('#default-mode').textContent = defaults.turn_mode === 'vad' ? 'hands-free' : defaults.turn_mode
    ? 'push-to-talk' : 'unknown';
  ui.tokenForget.hidden = !connection.token;
}

ui.settingsButton.addEventListener('click', () => {
  fillSettingsForm();
  ui.settingsDialog.showModal();
});
ui.settingsCancel.addEventListener('click', () => ui.settingsDialog.close());
ui.settingsReset.addEventListener('click', () => {
  const form = ui.settingsForm.elements;
  form.voice.value = form.language.value = form.system_prompt.value = '';
});
ui.settingsForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const form = ui.settingsForm.elements;
  app.settings.voice = form.voice.value.trim();
  app.settings.language = form.language.value.trim().toLowerCase();
  app.settings.system_prompt = form.system_prompt.value.trim();
  saveSettings(app.settings);
  ui.settingsDialog.close();
  if (app.ready) send({ type: 'session.update', session: sessionUpdate(app.settings, app.ready.session) });
});

function showServerInfo() {
  const engines = app.ready?.engines;
  const session = app.session;
  if (!engines || !session) return;
  const language = session.language === 'auto' ? 'auto-detect' : session.language;
  const rows = [['Speech to text', engines.stt], ['Chat model', engines.chat], ['Speech', engines.tts],
    ['Language', language], ['Voice', session.voice || 'default'],
    ['Audio', `${session.input_audio?.rate} Hz in, ${session.output_audio?.rate} Hz out`]];
  ui.serverInfo.replaceChildren(...rows.flatMap(([term, value]) => {
    const dt = document.createElement('dt');
    dt.textContent = term;
    const dd = document.createElement('dd');
    dd.textContent = String(value ?? '');
    return [dt, dd];
  }));
}

// --- banner and status --------------------------------------------------------------------------

let bannerSource = null;
let bannerRun = null;

function showBanner(source, text, action) {
  bannerSource = source;
  ui.bannerText.textContent = text;
  bannerRun = action?.run ?? null;
  ui.bannerAction.hidden = !action;
  ui.bannerAction.textContent = action?.label ?? '';
  ui.banner.hidden = false;
}

function hideBanner(source) {
  if (source && source !== bannerSource) return;
  ui.banner.hidden = true;
  bannerSource = null;
}
ui.bannerAction.addEventListener('click', () => bannerRun?.());
ui.bannerClose.addEventListener('click', () => hideBanner());

function state() {
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

const stateLog = []; // recent states, oldest first: lets tests see short-lived ones like `reconnecting`

function render() {
  const current = state();
  const vad = app.settings.mode === 'vad';
  let label = LABELS[current];
  if (current === 'listening') label = vad ? 'Hearing you…' : 'Listening… release to send';
  if (current === 'ready') {
    label = !vad ? 'Ready' : app.paused ? 'Paused' : 'Listening for speech';
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

// --- test and debugging hook --------------------------------------------------------------------

window.voicechat = {
  get state() {
    return state();
  },
  get playedSamples() {
    return engine.playedSamples;
  },
  get playedSamplesByTurn() {
    return { ...engine.playedByTurn };
  },
  get sentBytes() {
    return app.sentBytes;
  },
  get sampleRate() {
    return engine.sampleRate;
  },
  get session() {
    return app.session;
  },
  get settings() {
    return { ...app.settings };
  },
  get audioRunning() {
    return engine.running;
  },
  get audioTime() {
    return engine.ctx.currentTime;
  },
  stateLog,
  events: app.events,
  sent: app.sent,
  handleEvent,
  send, // e.g. conversation.get from a test or the console
};

engine.ready.catch((error) => showBanner('mic', error.message || 'Audio could not be set up in this browser.'));
render();
connection.connect();
