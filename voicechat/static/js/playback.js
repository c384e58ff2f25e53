// Playback reports: how much of each reply the user really heard, and stopping replies at once.

import { REPORT_EVERY_MS, app, conversation, engine, send } from './state.js';
import { render } from './status.js';

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
export async function stopPlayback(turnId, reason = 'cancel') {
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

export function replyActive() {
  return app.turn !== null || engine.isPlaying || app.awaiting;
}

export function cancelReply() {
  // reply.cancel goes first: the server marks the turn interrupted, then our playback report trims it.
  if (app.turn !== null || engine.isPlaying) send({ type: 'reply.cancel' });
  // Audio of this turn may already be on its way: it must not start playing after the stop.
  if (app.turn !== null && !app.stoppedTurns.has(app.turn)) app.stoppedTurns.set(app.turn, 0);
  return stopPlayback();
}
