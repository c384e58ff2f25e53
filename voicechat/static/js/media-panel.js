// Media job cards (image / music / video generation), driven by `media.job` events. Cards are updated in
// place, so a video that is playing is not restarted by a later progress event for another job.

const KIND_LABEL = { image: 'Image', music: 'Music', video: 'Video' };
const ACTION_LABEL = { upscale: 'upscale', variation: 'variation', reroll: 'reroll' };
const STATUS_LABEL = { submitted: 'Queued', running: 'Working', succeeded: 'Done', failed: 'Failed' };

export class MediaPanel {
  /** @param root the panel element; @param send (event) => boolean, to reach the server. */
  constructor(root, send) {
    this.root = root;
    this.list = root.querySelector('[data-media-list]');
    this.send = send;
    this.cards = new Map();
  }

  handle(event) {
    const job = event.job && typeof event.job === 'object' ? event.job : event;
    if (!job || typeof job.id !== 'string') return;
    let card = this.cards.get(job.id);
    if (!card) {
      card = this.#create(job);
      this.cards.set(job.id, card);
      this.list.prepend(card.root);
    }
    this.#update(card, job);
    this.root.hidden = false;
  }

  #create(job) {
    const root = el('li', 'media-card');
    root.dataset.jobId = job.id;
    const head = el('div', 'media-head');
    const kind = el('span', 'media-kind');
    const status = el('span', 'media-status');
    head.append(kind, status);
    const prompt = el('p', 'media-prompt');
    const progress = el('div', 'media-progress');
    progress.setAttribute('role', 'progressbar');
    progress.setAttribute('aria-valuemin', '0');
    progress.setAttribute('aria-valuemax', '100');
    const bar = el('div', 'media-bar');
    progress.append(bar);
    const results = el('div', 'media-results');
    const error = el('p', 'media-error');
    error.setAttribute('role', 'alert');
    const actions = el('div', 'media-actions');
    actions.setAttribute('role', 'group');
    root.append(head, prompt, progress, results, error, actions);
    return { root, kind, status, prompt, progress, bar, results, error, actions, urls: '', buttons: '',
      sent: new Set() };
  }

  #update(card, job) {
    const kind = KIND_LABEL[job.kind] ? job.kind : 'image';
    const status = STATUS_LABEL[job.status] ? job.status : 'submitted';
    card.root.dataset.kind = kind;
    card.root.dataset.status = status;
    const followUp = ACTION_LABEL[job.action];
    card.kind.textContent = followUp ? `${KIND_LABEL[kind]} · ${followUp}` : KIND_LABEL[kind];
    card.status.textContent = STATUS_LABEL[status];
    card.prompt.textContent = job.prompt || '';
    card.prompt.hidden = !job.prompt;

    const progress = status === 'succeeded' ? 100 : clamp(Number(job.progress) || 0, 0, 100);
    const busy = status === 'submitted' || status === 'running';
    card.progress.hidden = !busy;
    card.progress.setAttribute('aria-valuenow', String(progress));
    card.progress.setAttribute('aria-label', `${KIND_LABEL[kind]} progress`);
    card.bar.style.width = `${progress}%`;
    card.root.setAttribute('aria-busy', String(busy));

    card.error.textContent = status === 'failed' ? job.error || 'The job failed.' : '';
    card.error.hidden = status !== 'failed';

    const urls = (Array.isArray(job.result_urls) ? job.result_urls : []).filter(safeUrl);
    const key = `${kind}|${urls.join('|')}`;
    if (key !== card.urls) {
      card.urls = key;
      card.results.replaceChildren(...urls.map((url, i) => this.#result(kind, url, i, job)));
    }

    const buttons = status === 'succeeded' && Array.isArray(job.result?.buttons) ? job.result.buttons : [];
    const actions = buttons.map(buttonAction).filter(Boolean);
    const buttonsKey = JSON.stringify(actions);
    if (buttonsKey !== card.buttons) {
      card.buttons = buttonsKey;
      card.actions.setAttribute('aria-label', 'Picture actions');
      card.actions.replaceChildren(...actions.map((a) => this.#button(card, job.id, a)));
    }
    card.actions.hidden = actions.length === 0;
  }

  #result(kind, url, index, job) {
    const label = `${job.prompt || KIND_LABEL[kind]} (${index + 1})`;
    if (kind === 'image') {
      const link = el('a', 'media-image');
      link.href = url;
      link.target = '_blank';
      link.rel = 'noopener noreferrer';
      const img = el('img');
      img.src = url;
      img.alt = label;
      img.loading = 'lazy';
      img.decoding = 'async';
      link.append(img);
      return link;
    }
    const player = el(kind === 'video' ? 'video' : 'audio');
    player.controls = true;
    player.preload = 'metadata';
    player.src = url;
    player.setAttribute('aria-label', label);
    if (kind === 'video') player.playsInline = true;
    return player;
  }

  #button(card, jobId, action) {
    const button = el('button', 'media-action');
    button.type = 'button';
    button.textContent = action.label;
    button.dataset.action = action.action;
    button.dataset.index = String(action.index);
    button.title = action.title;
    button.setAttribute('aria-label', action.title);
    const key = `${action.action}:${action.index}`;
    button.disabled = card.sent.has(key);
    button.addEventListener('click', () => {
      const sent = this.send({ type: 'media.action', job_id: jobId, action: action.action, index: action.index });
      if (sent) {
        // One click, one child job: the button stays used so a double click does not order two.
        card.sent.add(key);
        button.disabled = true;
      }
    });
    return button;
  }
}

function buttonAction(button) {
  const label = String(button?.label ?? '').trim();
  const id = String(button?.custom_id ?? '');
  let match = /^([UV])([1-4])$/i.exec(label);
  if (match) {
    const upscale = match[1].toUpperCase() === 'U';
    const index = Number(match[2]);
    return { label: label.toUpperCase(), action: upscale ? 'upscale' : 'variation', index,
      title: upscale ? `Upscale picture ${index}` : `Variations of picture ${index}` };
  }
  if (/reroll/i.test(id) || label === '🔄' || /^re-?roll$/i.test(label)) {
    // ↻ rather than the 🔄 emoji: a self-hosted box may have no emoji font.
    return { label: '↻ Reroll', action: 'reroll', index: 0, title: 'Reroll: four new pictures' };
  }
  return null; // other Midjourney buttons (zoom, pan, …) have no action on our protocol yet
}

function safeUrl(url) {
  // Result URLs come from third parties: only web and inline-media URLs become src attributes.
  if (typeof url !== 'string') return false;
  try {
    const parsed = new URL(url, location.href);
    return ['http:', 'https:', 'blob:'].includes(parsed.protocol)
      || (parsed.protocol === 'data:' && /^data:(image|audio|video)\//.test(url));
  } catch {
    return false;
  }
}

function clamp(value, low, high) {
  return Math.min(high, Math.max(low, value));
}

function el(tag, className) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  return node;
}
