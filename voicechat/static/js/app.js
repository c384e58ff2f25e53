// The page's entry point: loads every concern's module (state.js lists them), exposes a hook for tests
// and debugging, and connects. docs/protocol.md is the contract the modules speak.

import './controls.js';
import './link.js';
import './settings-form.js';
import { handleEvent } from './server-events.js';
import { app, connection, engine, send } from './state.js';
import { render, showBanner, state, stateLog } from './status.js';

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
