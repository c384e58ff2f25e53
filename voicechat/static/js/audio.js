// One AudioContext for the page: the microphone capture worklet and the reply player share it, so the
// browser's echo canceller sees the same clock, and there is one thing to unlock on the first gesture.

const CAPTURE_RATE = 16000; // what the server's VAD and whisper use: no server-side resampling
const FRAME_MS = 20;
const INSECURE = 'The browser allows the microphone and audio processing only on a secure page: '
  + 'open this page over HTTPS, or on localhost.';

export class MicError extends Error {
  constructor(kind, message) {
    super(message);
    this.kind = kind; // denied | missing | insecure | busy | failed
  }
}

export class AudioEngine extends EventTarget {
  constructor() {
    super();
    this.ctx = new AudioContext({ latencyHint: 'interactive' });
    this.captureRate = CAPTURE_RATE;
    // AudioWorklet (like the microphone) exists only on secure pages: HTTPS or localhost.
    this.ready = !this.ctx.audioWorklet
      ? Promise.reject(new MicError('insecure', INSECURE))
      : Promise.all([
        this.ctx.audioWorklet.addModule(new URL('../worklets/capture-processor.js', import.meta.url)),
        this.ctx.audioWorklet.addModule(new URL('../worklets/playback-processor.js', import.meta.url)),
      ]).then(() => this.#setUpPlayer());
    this.stream = null;
    this.captureNode = null;
    this.micStarting = null;
    // Playback accounting, mirrored from the worklet's messages.
    this.playedSamples = 0;
    this.playedByTurn = {}; // turnId -> samples of that turn that reached the output (recent turns)
    this.playing = new Map(); // turnId -> played ms, for turns with audio not yet finished
  }

  get sampleRate() {
    return this.ctx.sampleRate;
  }

  get running() {
    return this.ctx.state === 'running';
  }

  async unlock() {
    // Browsers keep a context suspended until a user gesture; call this from one.
    if (this.ctx.state !== 'running') await this.ctx.resume().catch(() => {});
    return this.running;
  }

  #setUpPlayer() {
    this.player = new AudioWorkletNode(this.ctx, 'playback-processor', {
      numberOfInputs: 0,
      numberOfOutputs: 1,
      outputChannelCount: [1],
    });
    this.player.connect(this.ctx.destination);
    this.player.port.onmessage = ({ data }) => {
      this.playedSamples = data.total;
      for (const turn of data.turns || [data]) this.#tally(turn.turnId, turn.played);
      if (data.type === 'progress') {
        this.playing.set(data.turnId, data.playedMs);
        this.#emit('progress', data);
      } else if (data.type === 'ended') {
        this.playing.delete(data.turnId);
        this.#emit('ended', data);
      } else if (data.type === 'stopped') {
        for (const turn of data.turns) this.playing.delete(turn.turnId);
        this.#resolveStop?.(data.turns);
        this.#emit('stopped', data);
      }
    };
  }

  #resolveStop = null;

  #tally(turnId, played) {
    if (turnId === undefined) return;
    this.playedByTurn[turnId] = played;
    const ids = Object.keys(this.playedByTurn);
    if (ids.length > 20) delete this.playedByTurn[ids[0]];
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  // --- reply playback ---------------------------------------------------------------------------

  startReply(turnId, rate) {
    this.playing.set(turnId, 0);
    this.player?.port.postMessage({ type: 'start', turnId, rate });
  }

  pushReply(turnId, buffer) {
    this.player?.port.postMessage({ type: 'push', turnId, pcm: buffer }, [buffer]);
  }

  endReply(turnId) {
    this.player?.port.postMessage({ type: 'end', turnId });
  }

  get isPlaying() {
    return this.playing.size > 0;
  }

  /** Stop all reply audio now; resolves with [{turnId, playedMs}] for the turns that had begun. */
  stopReplies() {
    if (!this.player) return Promise.resolve([]);
    const answer = new Promise((resolve) => {
      this.#resolveStop = resolve;
    });
    this.player.port.postMessage({ type: 'stop' });
    return answer;
  }

  // --- microphone -------------------------------------------------------------------------------

  get micOn() {
    return this.captureNode !== null;
  }

  /** Open the microphone (once); frames then arrive as `frame` events {pcm: ArrayBuffer, level}. */
  startMic() {
    if (this.captureNode) return Promise.resolve();
    this.micStarting ??= this.#openMic().finally(() => {
      this.micStarting = null;
    });
    return this.micStarting;
  }

  async #openMic() {
    if (!window.isSecureContext || !navigator.mediaDevices?.getUserMedia) {
      throw new MicError('insecure', INSECURE);
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
      });
    } catch (error) {
      throw micError(error);
    }
    await this.ready;
    const source = this.ctx.createMediaStreamSource(stream);
    const node = new AudioWorkletNode(this.ctx, 'capture-processor', {
      numberOfOutputs: 1,
      outputChannelCount: [1],
      processorOptions: { targetRate: CAPTURE_RATE, frameMs: FRAME_MS },
    });
    node.port.onmessage = ({ data }) => this.#emit('frame', data);
    source.connect(node);
    // The node writes silence; connecting it keeps Chromium pulling it even with nothing else playing.
    node.connect(this.ctx.destination);
    for (const track of stream.getAudioTracks()) {
      track.addEventListener('ended', () => {
        this.stopMic();
        this.#emit('micended', {});
      });
    }
    this.stream = stream;
    this.source = source;
    this.captureNode = node;
  }

  stopMic() {
    this.stream?.getTracks().forEach((t) => t.stop());
    this.source?.disconnect();
    this.captureNode?.disconnect();
    this.stream = this.source = this.captureNode = null;
  }
}

function micError(error) {
  switch (error?.name) {
    case 'NotAllowedError':
    case 'SecurityError':
      return new MicError('denied', 'Microphone access was denied. Allow it for this site in the browser '
        + '(the icon in the address bar), then try again.');
    case 'NotFoundError':
    case 'OverconstrainedError':
      return new MicError('missing', 'No microphone was found. Plug one in, then try again.');
    case 'NotReadableError':
    case 'AbortError':
      return new MicError('busy', 'The microphone is in use by another program or could not be started.');
    default:
      return new MicError('failed', `The microphone could not be started (${error?.name || error}).`);
  }
}
