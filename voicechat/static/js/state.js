// Shared by the page's modules: element handles, the engines, the page state, and sending.
// Each concern lives in its own module: playback.js (reports and stopping), server-events.js (handlers),
// link.js (the connection's life), controls.js (mic, push-to-talk, keys, text), settings-form.js,
// status.js (banner and status line); app.js wires them and starts.

import { AudioEngine } from './audio.js';
import { Connection } from './connection.js';
import { Conversation } from './conversation.js';
import { MediaPanel } from './media-panel.js';
import { Resume } from './resume.js';
import { loadSettings } from './settings.js';
import { Uploads } from './uploads.js';

export const FALLBACK_RATES = [8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000];
export const REPORT_EVERY_MS = 500;
export const PREROLL_FRAMES = 10; // 200 ms of audio from before a push-to-talk press: first words not clipped
const KEEP_EVENTS = 1000; // a long reply alone is hundreds of text deltas
export const TOUCH = matchMedia('(pointer: coarse)').matches; // phones: no Space bar to mention

export const $ = (selector) => document.querySelector(selector);
export const ui = {
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

export const engine = new AudioEngine();
export const connection = new Connection();
export const conversation = new Conversation($('#log'), $('#announcer'));
export const resume = new Resume(connection, conversation, $('#past'));
export const media = new MediaPanel($('#media'), (event) => send(event));
export const uploads = new Uploads($('#uploads'), {
  send: (event) => send(event),
  token: () => connection.token,
  ask: (text) => {
    ui.textInput.value = text;
    ui.textForm.requestSubmit();
  },
});

export const app = {
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

export function send(event) {
  const ok = connection.send(event);
  if (ok) remember(app.sent, event);
  return ok;
}

export function remember(list, event) {
  list.push(event);
  if (list.length > KEEP_EVENTS) list.splice(0, list.length - KEEP_EVENTS);
}
