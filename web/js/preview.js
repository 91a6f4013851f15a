// An image full size in a modal: fetched with the token into a blob: URL,
// revoked as soon as it is no longer shown. Arrow keys step through the
// images of the listing the caller passes.
import { apiBlob } from './api.js';
import { h } from './dom.js';
import { download, save } from './download.js';
import { humanSize } from './format.js';
import { describe } from './messages.js';

const PATHS = {
  prev: 'M15 5l-7 7 7 7', next: 'M9 5l7 7-7 7', close: 'M6 6l12 12M18 6L6 18',
  download: 'M12 4v11M7 10l5 5 5-5M5 20h14',
};

function button(label, name, onclick, props = {}) {
  const svg = h('svg:svg', { viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' });
  svg.append(h('svg:path', { d: PATHS[name] }));
  return h('button', { type: 'button', class: 'icon', 'aria-label': label, title: label, onclick, ...props }, svg);
}

/** Shows image `item`; `siblings` (the listing's items, any types) gives Previous/Next. */
export function showPreview(item, siblings = []) {
  const images = siblings.filter((other) => other.type === 'image');
  let index = images.findIndex((other) => other.id === item.id);
  const list = index < 0 ? [item] : images;
  index = Math.max(index, 0);
  let url = null;
  let blob = null;
  let controller = null;

  const title = h('h2', { id: 'preview-title', class: 'preview-name' });
  const meta = h('span', { class: 'preview-meta' });
  const img = h('img', { class: 'preview-image', alt: '', hidden: true });
  const spinner = h('div', { class: 'spinner', role: 'status' }, h('span', { class: 'visually-hidden', text: 'Loading…' }));
  const error = h('p', { class: 'preview-error', role: 'alert', hidden: true });
  const several = list.length > 1;
  const stage = h('div', { class: 'preview-stage' }, spinner, img, error);
  const dialog = h('dialog', { class: 'preview', 'aria-labelledby': 'preview-title' },
    h('div', { class: 'preview-bar' },
      h('div', { class: 'preview-title' }, title, meta),
      several && button('Previous image', 'prev', () => step(-1)),
      several && button('Next image', 'next', () => step(1)),
      button('Download', 'download', () => (blob ? save(blob, list[index].name) : download(list[index]))),
      button('Close', 'close', () => dialog.close(), { autofocus: true })),
    stage);

  function forget() {
    controller?.abort();
    if (url) URL.revokeObjectURL(url);
    url = null;
    blob = null;
  }

  async function show() {
    forget();
    const current = list[index];
    title.textContent = current.name;
    meta.textContent = [humanSize(current.size), several && `${index + 1} of ${list.length}`].filter(Boolean).join(' · ');
    img.hidden = true;
    img.removeAttribute('src');
    error.hidden = true;
    spinner.hidden = false;
    controller = new AbortController();
    try {
      blob = await apiBlob(`/v2/files/${encodeURIComponent(current.id)}/content`, { signal: controller.signal });
    } catch (failure) {
      if (failure.name !== 'AbortError') fail(describe(failure));
      return;
    }
    url = URL.createObjectURL(blob);
    img.alt = current.name;
    img.src = url;
  }

  function fail(text) {
    spinner.hidden = true;
    error.textContent = text;
    error.hidden = false;
  }

  function step(by) {
    index = (index + by + list.length) % list.length;
    show();
  }

  img.addEventListener('load', () => { spinner.hidden = true; img.hidden = false; });
  img.addEventListener('error', () => img.getAttribute('src') && fail('This image cannot be shown: download it.'));
  dialog.addEventListener('keydown', (event) => {
    if (several && (event.key === 'ArrowLeft' || event.key === 'ArrowRight')) {
      event.preventDefault();
      step(event.key === 'ArrowLeft' ? -1 : 1);
    }
  });
  // A click on the backdrop (outside the image) closes, as people expect of a lightbox.
  dialog.addEventListener('click', (event) => { if (event.target === dialog || event.target === stage) dialog.close(); });
  dialog.addEventListener('close', () => { forget(); dialog.remove(); });
  document.body.append(dialog);
  dialog.showModal();
  show();
  return dialog;
}
