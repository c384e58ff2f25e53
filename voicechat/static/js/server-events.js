// Server events (docs/protocol.md) -> page state and rendering, one handler per event type.

import { startHandsFree } from './controls.js';
import { stopPlayback } from './playback.js';
import { sessionUpdate } from './settings.js';
import { showServerInfo } from './settings-form.js';
import {
  FALLBACK_RATES, app, connection, conversation, engine, media, remember, resume, send, uploads,
} from './state.js';
import { hideBanner, render, showBanner } from './status.js';

// --- server events ------------------------------------------------------------------------------

connection.addEventListener('event', ({ detail }) => handleEvent(detail));
connection.addEventListener('audio', ({ detail }) => {
  if (app.audioTurn && !app.stoppedTurns.has(app.audioTurn)) engine.pushReply(app.audioTurn, detail);
});

export function handleEvent(event) {
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
    app.wakeArmed = Boolean(event.session?.wake_word); // a hands-free session starts armed
    if (app.everReady) {
      conversation.note(event.resumed ? 'Reconnected. The conversation continues.'
        : 'Reconnected. This is a new session: the server starts afresh.');
    }
    resume.ready(event);
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
    if ((event.session?.wake_word || null) !== (app.session?.wake_word || null)) {
      app.wakeArmed = Boolean(event.session?.wake_word);
    }
    app.session = event.session;
    showServerInfo();
  },
  'wake.detected'() {
    app.wakeArmed = false;
  },
  'wake.armed'() {
    app.wakeArmed = true;
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

export function sendSessionUpdate() {
  const session = sessionUpdate(app.settings);
  const rates = app.ready?.limits?.input_rates || FALLBACK_RATES;
  session.input_audio = { format: 'pcm16', rate: engine.captureRate };
  // Reply audio at the context's own rate plays without resampling; otherwise the worklet resamples.
  const rate = rates.includes(engine.sampleRate) ? engine.sampleRate : 24000;
  session.output_audio = { format: 'pcm16', rate };
  send({ type: 'session.update', session });
}
