// Pictures for the next media request (blend, face swap, describe, Viggle dance, picture to video):
// picked with the attach button, dropped onto the page or pasted. Each is sent to POST /api/uploads, shown
// as a thumbnail with a remove button, and the set is attached with `media.attach` (docs/protocol.md).
// The server says `media.attached` {count: 0, reason: "used"} once a request took them: the tray empties.
// Viggle's dance templates are listed from GET /api/media/viggle/templates; clicking one asks for it.

const MAX_PICTURES = 5; // the server's limit for one `media.attach`
const TYPES = ['image/png', 'image/jpeg', 'image/webp', 'image/gif'];

export class Uploads {
  /**
   * @param root the uploads section; @param send (event) => boolean, to reach the server;
   * @param token () => the access token or null; @param ask (text) => void, says something as typed text.
   */
  constructor(root, { send, token, ask }) {
    this.root = root;
    this.send = send;
    this.token = token;
    this.ask = ask;
    this.input = root.querySelector('[data-upload-input]');
    this.button = root.querySelector('[data-upload-button]');
    this.tray = root.querySelector('[data-attachments]');
    this.error = root.querySelector('[data-upload-error]');
    this.templates = root.querySelector('[data-templates]');
    this.templateList = root.querySelector('[data-template-list]');
    this.pictures = []; // {id|null, url (object URL), name, item}
    this.button.addEventListener('click', () => this.input.click());
    this.input.addEventListener('change', () => {
      this.add([...this.input.files]);
      this.input.value = '';
    });
    document.addEventListener('dragover', (event) => {
      if (![...(event.dataTransfer?.types || [])].includes('Files')) return;
      event.preventDefault(); // allow the drop
      document.body.dataset.dropping = 'true';
    });
    document.addEventListener('dragleave', (event) => {
      if (!event.relatedTarget) delete document.body.dataset.dropping;
    });
    document.addEventListener('drop', (event) => {
      delete document.body.dataset.dropping;
      const files = [...(event.dataTransfer?.files || [])];
      if (!files.length) return;
      event.preventDefault(); // the browser would otherwise open the picture instead of the page
      this.add(files);
    });
    document.addEventListener('paste', (event) => {
      const files = [...(event.clipboardData?.files || [])].filter((f) => f.type.startsWith('image/'));
      if (!files.length) return; // pasted text goes where it was pasted
      event.preventDefault();
      this.add(files);
    });
  }

  /** The socket is (again) open: a new session knows nothing of earlier attachments. */
  connected() {
    if (this.ids().length) this.#attach();
    this.#loadTemplates();
  }

  handle(event) {
    if (event.type === 'media.attached' && event.count === 0 && event.reason === 'used') this.clear();
  }

  ids() {
    return this.pictures.filter((p) => p.id).map((p) => p.id);
  }

  add(files) {
    this.#say('');
    for (const file of files) {
      if (!TYPES.includes(file.type)) {
        this.#say(`${file.name || 'That file'} is not a picture: attach PNG, JPEG, WebP or GIF.`);
        continue;
      }
      if (this.pictures.length >= MAX_PICTURES) {
        this.#say(`At most ${MAX_PICTURES} pictures can be attached at once.`);
        break;
      }
      this.#upload(file);
    }
  }

  remove(picture) {
    this.pictures = this.pictures.filter((p) => p !== picture);
    picture.item.remove();
    URL.revokeObjectURL(picture.url);
    this.#render();
    if (picture.id) this.#attach();
  }

  clear() {
    for (const picture of this.pictures) URL.revokeObjectURL(picture.url);
    this.pictures = [];
    this.tray.replaceChildren();
    this.#render();
  }

  async #upload(file) {
    const picture = { id: null, url: URL.createObjectURL(file), name: file.name || 'picture', item: null };
    this.pictures.push(picture);
    picture.item = this.#thumbnail(picture);
    this.tray.append(picture.item);
    this.#render();
    const body = new FormData();
    body.append('file', file, picture.name);
    const token = this.token();
    try {
      const response = await fetch('api/uploads', {
        method: 'POST', body, headers: token ? { Authorization: `Bearer ${token}` } : {},
      });
      const answer = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(answer?.error?.message || `the upload failed (HTTP ${response.status})`);
      if (!this.pictures.includes(picture)) return; // removed while it was uploading
      picture.id = answer.id;
      picture.item.dataset.uploadId = answer.id;
      picture.item.dataset.state = 'ready';
      this.#attach();
    } catch (error) {
      if (this.pictures.includes(picture)) this.remove(picture);
      this.#say(`${picture.name} could not be attached: ${error.message}`);
    }
    this.#render();
  }

  #attach() {
    this.send({ type: 'media.attach', upload_ids: this.ids() });
  }

  #thumbnail(picture) {
    const item = document.createElement('li');
    item.className = 'attachment';
    item.dataset.state = 'uploading';
    const image = document.createElement('img');
    image.src = picture.url;
    image.alt = picture.name;
    const remove = document.createElement('button');
    remove.type = 'button';
    remove.className = 'attachment-remove';
    remove.textContent = '✕';
    remove.setAttribute('aria-label', `Remove ${picture.name}`);
    remove.addEventListener('click', () => this.remove(picture));
    item.append(image, remove);
    return item;
  }

  #render() {
    const count = this.pictures.length;
    this.root.dataset.count = String(count);
    this.tray.hidden = count === 0;
    this.tray.setAttribute('aria-label', `${count} picture${count === 1 ? '' : 's'} attached for the next request`);
  }

  #say(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  async #loadTemplates() {
    const token = this.token();
    try {
      const response = await fetch('api/media/viggle/templates', {
        headers: token ? { Authorization: `Bearer ${token}` } : {}, cache: 'no-store',
      });
      if (!response.ok) return; // Viggle not set up: nothing to list
      const { templates } = await response.json();
      if (!Array.isArray(templates) || !templates.length) return;
      this.templateList.replaceChildren(...templates.map((t) => this.#template(t)));
      this.templates.hidden = false;
    } catch {
      // Offline or not JSON: dances can still be named by voice.
    }
  }

  #template(template) {
    const item = document.createElement('li');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'template';
    button.dataset.templateId = String(template.id);
    if (typeof template.cover === 'string' && /^https?:\/\//.test(template.cover)) {
      const cover = document.createElement('img');
      cover.src = template.cover;
      cover.alt = '';
      button.append(cover);
    }
    const name = document.createElement('span');
    name.textContent = String(template.name || template.id);
    button.append(name);
    button.title = `Make the person in the attached picture dance like ${name.textContent}`;
    button.addEventListener('click', () => this.ask(`Make this person dance like the ${name.textContent}.`));
    item.append(button);
    return item;
  }
}
