// Resumable conversations (docs/protocol.md, "Resuming a conversation"). The tab keeps the id of its
// conversation, so a reload or a dropped connection continues it (on whichever node answers); after a
// reload the earlier turns are shown again; past conversations are listed, and any can be continued.

const KEY = 'voicechat.conversation';

export class Resume {
  constructor(connection, conversation, panel) {
    this.connection = connection;
    this.conversation = conversation;
    this.panel = panel; // <details> holding a list of past conversations and a "New conversation" button
    this.list = panel.querySelector('[data-past-list]');
    this.shown = false; // earlier turns of this conversation are on the page
    const id = sessionStorage.getItem(KEY);
    if (id) connection.query.conversation_id = id;
    connection.addEventListener('resume-refused', () => this.forget());
    panel.querySelector('[data-new-conversation]').addEventListener('click', () => this.switchTo(null));
    panel.addEventListener('toggle', () => panel.open && this.listPast());
  }

  get id() {
    return this.connection.query.conversation_id || null;
  }

  /** `ready`: remember the conversation; after a reload, show what was said before. */
  async ready(event) {
    this.connection.query.conversation_id = event.conversation_id;
    sessionStorage.setItem(KEY, event.conversation_id);
    if (event.resumed && !this.shown) await this.showEarlier(event.conversation_id);
    this.shown = true;
  }

  forget() {
    delete this.connection.query.conversation_id;
    sessionStorage.removeItem(KEY);
    this.conversation.note('That conversation could not be continued; this is a new one.');
  }

  /** Continue another stored conversation (null: start a new one). */
  switchTo(id) {
    if (id) this.connection.query.conversation_id = id;
    else delete this.connection.query.conversation_id;
    sessionStorage.removeItem(KEY);
    this.shown = false;
    this.conversation.clear();
    this.panel.open = false;
    this.connection.reconnect();
  }

  async #get(path) {
    const headers = this.connection.token ? { Authorization: `Bearer ${this.connection.token}` } : {};
    const response = await fetch(path, { headers, cache: 'no-store' });
    return response.ok ? response.json() : null;
  }

  async showEarlier(id) {
    const stored = await this.#get(`api/conversations/${encodeURIComponent(id)}`).catch(() => null);
    if (!stored) return;
    for (const turn of stored.turns) {
      if (turn.user_text) this.conversation.user(turn.turn_id, turn.user_text, 'text');
      if (turn.assistant_text) {
        this.conversation.delta(turn.turn_id, turn.assistant_text);
        this.conversation.done({ turn_id: turn.turn_id, status: turn.status, text: turn.assistant_text,
          timings: turn.timings });
      }
    }
    this.conversation.note('Earlier in this conversation ↑');
  }

  async listPast() {
    const found = await this.#get('api/conversations?limit=20').catch(() => null);
    this.list.replaceChildren();
    for (const item of found?.conversations || []) {
      const first = item.turns.find((t) => t.user_text)?.user_text;
      if (!first) continue;
      const li = document.createElement('li');
      const button = document.createElement('button');
      button.type = 'button';
      button.dataset.conversationId = item.id;
      const when = new Date(item.updated_at * 1000).toLocaleString();
      button.textContent = `${first.slice(0, 60)} — ${when}${item.id === this.id ? ' (this one)' : ''}`;
      button.disabled = item.id === this.id;
      button.addEventListener('click', () => this.switchTo(item.id));
      li.append(button);
      this.list.append(li);
    }
    if (!this.list.children.length) this.list.append(Object.assign(document.createElement('li'),
      { textContent: 'No earlier conversations yet.' }));
  }
}
