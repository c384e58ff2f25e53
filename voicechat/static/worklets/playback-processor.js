// Reply playback on the audio thread: a growable ring buffer of samples at the context's rate, fed with
// PCM16 chunks as they arrive from the server. Playback starts with the first chunk; what was really
// played is counted here, per turn, so `playback` reports tell the server what the user heard.

const INITIAL_SECONDS = 10;

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(sampleRate * INITIAL_SECONDS);
    this.readIndex = 0;
    this.writeIndex = 0;
    this.count = 0; // unread samples in the ring
    this.segments = []; // one per turn, in play order: {turnId, step, t, prev, written, played, ended}
    this.stopped = new Set(); // turns stopped here: their late chunks are dropped
    this.total = 0; // samples played since the page loaded (window.voicechat.playedSamples)
    this.sinceReport = 0;
    this.reportEvery = Math.round(sampleRate / 10);
    this.port.onmessage = (event) => this.onMessage(event.data);
  }

  onMessage(message) {
    switch (message.type) {
      case 'start':
        if (this.stopped.has(message.turnId) || this.segment(message.turnId)) return;
        this.segments.push({
          turnId: message.turnId,
          step: message.rate / sampleRate, // source samples per output sample
          t: 0,
          prev: 0,
          written: 0,
          played: 0,
          ended: false,
        });
        break;
      case 'push': {
        const segment = this.segment(message.turnId);
        if (segment && !segment.ended) this.append(segment, new Int16Array(message.pcm));
        break;
      }
      case 'end': {
        const segment = this.segment(message.turnId);
        if (segment) {
          segment.ended = true;
          this.finishDrained();
        }
        break;
      }
      case 'stop': {
        // Drop everything not yet played, now; report each turn that had started.
        const turns = this.segments.map((s) => ({
          turnId: s.turnId, played: s.played, playedMs: this.ms(s.played),
        }));
        for (const s of this.segments) this.stopped.add(s.turnId);
        if (this.stopped.size > 64) this.stopped = new Set([...this.stopped].slice(-32));
        this.segments = [];
        this.readIndex = this.writeIndex = this.count = 0;
        this.port.postMessage({ type: 'stopped', turns, total: this.total });
        break;
      }
      default:
        break;
    }
  }

  segment(turnId) {
    return this.segments.find((s) => s.turnId === turnId);
  }

  ms(samples) {
    return Math.round((samples / sampleRate) * 1000);
  }

  append(segment, pcm) {
    const scale = 1 / 0x8000;
    if (segment.step === 1) {
      this.reserve(pcm.length);
      for (let i = 0; i < pcm.length; i++) this.put(pcm[i] * scale);
      segment.written += pcm.length;
      return;
    }
    // The server could not send the context's own rate: linear interpolation to it.
    this.reserve(Math.ceil(pcm.length / segment.step) + 2);
    for (let i = 0; i < pcm.length; i++) {
      const y = pcm[i] * scale;
      while (segment.t <= 0) {
        this.put(segment.prev + (y - segment.prev) * (1 + segment.t));
        segment.written++;
        segment.t += segment.step;
      }
      segment.t -= 1;
      segment.prev = y;
    }
  }

  reserve(extra) {
    if (this.count + extra <= this.ring.length) return;
    // Replies arrive faster than real time; rather than drop audio, the ring doubles.
    let size = this.ring.length * 2;
    while (size < this.count + extra) size *= 2;
    const grown = new Float32Array(size);
    for (let i = 0; i < this.count; i++) grown[i] = this.ring[(this.readIndex + i) % this.ring.length];
    this.ring = grown;
    this.readIndex = 0;
    this.writeIndex = this.count;
  }

  put(value) {
    this.ring[this.writeIndex] = value;
    this.writeIndex = this.writeIndex + 1 === this.ring.length ? 0 : this.writeIndex + 1;
    this.count++;
  }

  finishDrained() {
    // A turn whose last chunk has arrived and been played is done: report, and go on to the next.
    for (let s = this.segments[0]; s && s.ended && s.played >= s.written; s = this.segments[0]) {
      const done = this.segments.shift();
      this.port.postMessage({
        type: 'ended', turnId: done.turnId, played: done.played, playedMs: this.ms(done.played), total: this.total,
      });
    }
  }

  process(inputs, outputs) {
    const out = outputs[0][0];
    let offset = 0;
    while (offset < out.length && this.segments.length) {
      const segment = this.segments[0];
      const available = Math.min(segment.written - segment.played, out.length - offset);
      if (available <= 0) break; // underrun: the next chunk is on its way; silence meanwhile
      for (let i = 0; i < available; i++) {
        out[offset + i] = this.ring[this.readIndex];
        this.readIndex = this.readIndex + 1 === this.ring.length ? 0 : this.readIndex + 1;
      }
      this.count -= available;
      segment.played += available;
      this.total += available;
      this.sinceReport += available;
      offset += available;
      this.finishDrained();
    }
    out.fill(0, offset);
    for (let c = 1; c < outputs[0].length; c++) outputs[0][c].set(out);
    if (this.sinceReport >= this.reportEvery && this.segments.length) {
      this.sinceReport = 0;
      const s = this.segments[0];
      this.port.postMessage({
        type: 'progress', turnId: s.turnId, played: s.played, playedMs: this.ms(s.played), total: this.total,
      });
    } else if (this.sinceReport >= this.reportEvery) {
      this.sinceReport = 0;
    }
    return true;
  }
}

registerProcessor('playback-processor', PlaybackProcessor);
