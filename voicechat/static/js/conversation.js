// The conversation log: a bubble per user utterance and per assistant reply, the reply streaming in as
// the model writes it. Text is always set with textContent: transcripts and replies are untrusted.

export class Conversation {
  constructor(list, announcer) {
    this.list = list;
    this.announcer = announcer;
    this.replies = new Map(); // turnId -> {root, text, heard, unheard, meta, full}
  }

  #nearBottom() {
    const scroller = this.list.parentElement;
    return scroller.scrollHeight - scroller.scrollTop - scroller.clientHeight < 80;
  }

  #add(node) {
    // Follow the conversation only if the user has not scrolled up to read something.
    const follow = this.#nearBottom();
    this.list.append(node);
    if (follow) node.scrollIntoView({ block: 'end' });
  }

  #keepFollowing(node) {
    if (this.#nearBottom()) node.scrollIntoView({ block: 'end' });
  }

  // What the server has heard so far while the user is still talking; the final transcript replaces it.
  partial(text) {
    if (!this.pending) {
      this.pending = bubble('user', 'You');
      this.pending.classList.add('partial');
      this.pending.setAttribute('aria-hidden', 'true'); // the final transcript is announced instead
      this.#add(this.pending);
    }
    this.pending.querySelector('.text').textContent = text;
    this.#keepFollowing(this.pending);
  }

  clearPartial() {
    this.pending?.remove();
    this.pending = null;
  }

  user(turnId, text, source) {
    const root = this.pending ?? bubble('user', 'You');
    const reused = root === this.pending;
    this.pending = null;
    root.classList.remove('partial');
    root.removeAttribute('aria-hidden');
    root.dataset.turnId = turnId;
    const body = root.querySelector('.text');
    body.textContent = text;
    if (source === 'text') root.classList.add('typed');
    if (!reused) this.#add(root);
    this.announce(`You said: ${text}`);
  }

  replyStarted(turnId) {
    if (this.replies.has(turnId)) return;
    const root = bubble('assistant', 'Assistant');
    root.dataset.turnId = turnId;
    root.setAttribute('aria-busy', 'true');
    const text = root.querySelector('.text');
    const heard = el('span', 'heard');
    const unheard = el('span', 'unheard');
    text.append(heard, unheard);
    const meta = el('p', 'meta');
    root.append(meta);
    this.replies.set(turnId, { root, text, heard, unheard, meta, full: '' });
    this.#add(root);
  }

  delta(turnId, delta) {
    if (!this.replies.has(turnId)) this.replyStarted(turnId);
    const reply = this.replies.get(turnId);
    reply.full += delta;
    reply.heard.textContent = reply.full;
    this.#keepFollowing(reply.root);
  }

  done(event) {
    const reply = this.replies.get(event.turn_id);
    if (!reply) return;
    reply.root.removeAttribute('aria-busy');
    reply.root.dataset.status = event.status;
    reply.audioMs = event.audio_ms;
    const heard = typeof event.text === 'string' ? event.text : reply.full;
    if (event.status === 'interrupted') {
      // Show what was heard, and the rest faded: the server's history keeps only the heard part.
      const full = reply.full.trim();
      const cut = full.startsWith(heard) ? heard.length : 0;
      reply.heard.textContent = cut ? full.slice(0, cut) : heard;
      reply.unheard.textContent = cut ? full.slice(cut) : '';
      if (reply.unheard.textContent) reply.unheard.setAttribute('aria-label', 'not heard');
    } else if (!reply.full && heard) {
      reply.heard.textContent = heard;
    }
    const parts = [];
    if (event.status === 'interrupted') parts.push(event.reason === 'cancel' ? 'stopped' : 'interrupted');
    if (event.status === 'failed') parts.push('failed');
    parts.push(...timings(event.timings));
    reply.meta.textContent = parts.join(' · ');
    reply.meta.title = 'Times from the end of your speech: transcript, first word of the reply, first audio';
    this.announce(`Assistant: ${reply.heard.textContent}`);
    this.#keepFollowing(reply.root);
  }

  /**
   * A reply stopped after its turn.done said `completed` (it had been made in full, and was still playing).
   * The server then cuts its history to what was played; the bubble fades the same share of the words.
   */
  cutAfterDone(turnId, playedMs, reason) {
    const reply = this.replies.get(turnId);
    if (!reply || reply.root.dataset.status !== 'completed' || !reply.audioMs) return;
    const full = reply.full.trim();
    const words = full.split(/\s+/);
    const kept = Math.floor(words.length * Math.min(1, playedMs / reply.audioMs));
    const heard = words.slice(0, kept).join(' ');
    reply.root.dataset.status = 'interrupted';
    reply.heard.textContent = heard;
    reply.unheard.textContent = full.slice(heard.length);
    if (reply.unheard.textContent) reply.unheard.setAttribute('aria-label', 'not heard');
    reply.meta.textContent = [reason === 'cancel' ? 'stopped' : 'interrupted', reply.meta.textContent]
      .filter(Boolean).join(' · ');
  }

  /** Empty the log (another conversation is opened). */
  clear() {
    this.list.replaceChildren();
    this.replies.clear();
    this.pending = null;
  }

  note(text, kind = 'info') {
    const node = el('li', `note note-${kind}`);
    node.textContent = text;
    this.#add(node);
  }

  announce(text) {
    // A separate polite live region: streaming deltas are not read out token by token.
    this.announcer.textContent = text;
  }
}

function timings(t) {
  if (!t) return [];
  const out = [];
  const add = (label, ms) => {
    if (typeof ms === 'number') out.push(`${label} ${ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms} ms`}`);
  };
  add('transcript', t.transcript_ms);
  add('first word', t.first_token_ms);
  add('first audio', t.first_audio_ms);
  return out;
}

function bubble(role, who) {
  const root = el('li', `bubble ${role}`);
  const name = el('span', 'who');
  name.textContent = who;
  const text = el('p', 'text');
  root.append(name, text);
  return root;
}

function el(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}
