// Microphone capture on the audio thread: downmix to mono, low-pass, resample to the target rate
// (16 kHz for the server's VAD and whisper), convert to PCM16LE and post fixed-size frames.
// Doing it here keeps the main thread free and never drops samples when the page is busy.

class CaptureProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const { targetRate = 16000, frameMs = 20 } = options.processorOptions || {};
    this.ratio = sampleRate / targetRate; // input samples per output sample
    this.frameLength = Math.round((targetRate * frameMs) / 1000);
    this.frame = new Int16Array(this.frameLength);
    this.fill = 0;
    this.sumSquares = 0;
    // Next output position, relative to the input sample being processed (see process()).
    this.t = 0;
    this.prev = 0;
    this.taps = this.ratio > 1 ? lowPass(0.45 / this.ratio, 31) : null;
    this.delay = new Float32Array(this.taps ? this.taps.length : 1);
    this.delayIndex = 0;
  }

  filter(x) {
    // A windowed-sinc FIR so speech above 8 kHz does not fold back into the band whisper hears.
    if (!this.taps) return x;
    const taps = this.taps;
    const delay = this.delay;
    const n = taps.length;
    delay[this.delayIndex] = x;
    let acc = 0;
    let j = this.delayIndex;
    for (let i = 0; i < n; i++) {
      acc += taps[i] * delay[j];
      j = j === 0 ? n - 1 : j - 1;
    }
    this.delayIndex = this.delayIndex === n - 1 ? 0 : this.delayIndex + 1;
    return acc;
  }

  emit(value) {
    const clamped = value > 1 ? 1 : value < -1 ? -1 : value;
    this.frame[this.fill++] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    this.sumSquares += clamped * clamped;
    if (this.fill === this.frameLength) {
      const level = Math.sqrt(this.sumSquares / this.frameLength);
      // Transfer the buffer (no copy); a fresh one takes its place.
      this.port.postMessage({ pcm: this.frame.buffer, level }, [this.frame.buffer]);
      this.frame = new Int16Array(this.frameLength);
      this.fill = 0;
      this.sumSquares = 0;
    }
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true;
    const length = channels[0].length;
    const count = channels.length;
    for (let i = 0; i < length; i++) {
      let x = 0;
      for (let c = 0; c < count; c++) x += channels[c][i];
      const y = this.filter(x / count);
      // Linear interpolation between the previous and this (filtered) sample; t in (-1, 0].
      while (this.t <= 0) {
        this.emit(this.prev + (y - this.prev) * (1 + this.t));
        this.t += this.ratio;
      }
      this.t -= 1;
      this.prev = y;
    }
    return true;
  }
}

function lowPass(cutoff, length) {
  // cutoff in cycles per input sample; Blackman window; unity gain at DC.
  const taps = new Float32Array(length);
  const middle = (length - 1) / 2;
  let sum = 0;
  for (let i = 0; i < length; i++) {
    const x = i - middle;
    const sinc = x === 0 ? 2 * cutoff : Math.sin(2 * Math.PI * cutoff * x) / (Math.PI * x);
    const window = 0.42 - 0.5 * Math.cos((2 * Math.PI * i) / (length - 1))
      + 0.08 * Math.cos((4 * Math.PI * i) / (length - 1));
    taps[i] = sinc * window;
    sum += taps[i];
  }
  for (let i = 0; i < length; i++) taps[i] /= sum;
  return taps;
}

registerProcessor('capture-processor', CaptureProcessor);
