// The WebSocket to /ws: JSON events and binary audio, a token when the server asks for one, and
// reconnection with exponential backoff and jitter so a restarting server is not stampeded.

const TOKEN_KEY = 'voicechat.token';
const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 15000;
// A server that wants a token closes with 4401 (or 1008, policy violation, from a proxy). Browsers hide
// the HTTP status of a refused handshake, so a handshake failure is also probed over plain HTTP.
const AUTH_CLOSE_CODES = new Set([4401, 1008]);
// Other refusals (docs/protocol.md, close codes): what to tell the user, and how to retry.
const CLOSE_POLICY = {
  1001: { message: 'The server is restarting.' },
  1013: { message: 'The server is full.', minDelay: 5000 },
  4403: { message: 'The server does not accept connections from this page’s address (its allowed origins).',
    retry: false },
  4429: { message: 'Too many connections from this address.', minDelay: 60000 },
};

export class Connection extends EventTarget {
  constructor(path = '/ws') {
    super();
    this.path = path;
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.retryAt = 0;
    this.wanted = true; // false after suspend(): a close is then final until connect()
    this.token = adoptTokenFromUrl() ?? localStorage.getItem(TOKEN_KEY);
    this.query = {}; // extra URL parameters, e.g. conversation_id (resume.js)
  }

  get open() {
    return this.ws?.readyState === WebSocket.OPEN;
  }

  url() {
    const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
    const url = new URL(this.path, `${scheme}//${location.host}`);
    if (this.token) url.searchParams.set('token', this.token);
    for (const [name, value] of Object.entries(this.query)) if (value) url.searchParams.set(name, value);
    return url.href;
  }

  connect() {
    clearTimeout(this.timer);
    this.timer = null;
    this.wanted = true;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    this.#emit('connecting', { attempt: this.attempt });
    const ws = new WebSocket(this.url());
    ws.binaryType = 'arraybuffer';
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.#emit('open', {});
    };
    ws.onmessage = ({ data }) => {
      if (typeof data !== 'string') {
        this.#emit('audio', data);
        return;
      }
      let event;
      try {
        event = JSON.parse(data);
      } catch {
        return; // the server only sends JSON text; ignore anything else rather than break the page
      }
      if (event?.type === 'ready') this.attempt = 0;
      this.#emit('event', event);
    };
    ws.onclose = (close) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.#closed(close, opened);
    };
    this.ws = ws;
  }

  /** Do not reconnect after the coming close (the server said the session idled out). */
  suspend() {
    this.wanted = false;
  }

  async #closed(close, opened) {
    if (!this.wanted) {
      this.#emit('suspended', { code: close.code, reason: close.reason });
      return;
    }
    let auth = AUTH_CLOSE_CODES.has(close.code);
    if (!auth && !opened) auth = await this.#probeAuth();
    if (auth) {
      this.#emit('auth', { hadToken: Boolean(this.token), code: close.code, reason: close.reason });
      return; // wait for setToken(): retrying with the same credentials cannot help
    }
    if (this.query.conversation_id && (close.code === 4404 || (close.code === 4403
        && close.reason.includes('conversation')))) {
      this.#emit('resume-refused', { code: close.code, reason: close.reason }); // it drops the id
      this.connect(); // a new conversation, at once
      return;
    }
    const policy = CLOSE_POLICY[close.code] || {};
    if (policy.retry === false) {
      this.#emit('refused', { code: close.code, reason: close.reason, message: policy.message });
      return;
    }
    const delay = Math.max(backoff(this.attempt++), policy.minDelay ?? 0);
    this.retryAt = Date.now() + delay;
    this.#emit('retry', { delay, attempt: this.attempt, code: close.code, reason: close.reason, opened,
      message: policy.message });
    this.timer = setTimeout(() => this.connect(), delay);
  }

  async #probeAuth() {
    try {
      const http = new URL(this.url());
      http.protocol = location.protocol;
      const response = await fetch(http, { cache: 'no-store' });
      return response.status === 401 || response.status === 403;
    } catch {
      return false; // the server is unreachable: a plain reconnect
    }
  }

  /** Close and open again at once (another conversation was picked). */
  reconnect() {
    this.attempt = 0;
    if (this.ws) this.ws.close(1000, 'switching conversation');
    this.ws = null;
    this.connect();
  }

  retryNow() {
    this.attempt = Math.min(this.attempt, 1);
    this.connect();
  }

  setToken(token) {
    this.token = token || null;
    if (this.token) localStorage.setItem(TOKEN_KEY, this.token);
    else localStorage.removeItem(TOKEN_KEY);
    this.attempt = 0;
    if (this.ws) this.ws.close(1000, 'new token');
    this.ws = null;
    this.connect();
  }

  send(event) {
    if (!this.open) return false;
    this.ws.send(JSON.stringify(event));
    this.#emit('sent', event);
    return true;
  }

  sendAudio(buffer) {
    if (!this.open) return false;
    this.ws.send(buffer);
    return true;
  }

  #emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }
}

export function backoff(attempt) {
  // Exponential with "equal jitter": at least half the step, so retries spread out but never bunch at 0.
  const step = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** attempt);
  return Math.round(step / 2 + Math.random() * (step / 2));
}

function adoptTokenFromUrl() {
  // A link like /?token=… is kept once and removed from the address bar (and so from history).
  const url = new URL(location.href);
  const token = url.searchParams.get('token');
  if (!token) return null;
  localStorage.setItem(TOKEN_KEY, token);
  url.searchParams.delete('token');
  history.replaceState(null, '', url.href);
  return token;
}
