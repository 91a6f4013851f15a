// One file or folder as a list row or a grid tile (the same elements, laid out by
// CSS), and its actions menu: whatever item_actions.js has registered.
import { describe } from './messages.js';
import { h, icon } from './dom.js';
import { humanDate, humanSize } from './format.js';
import { actionsFor } from './item_actions.js';
import { folderHash } from './router.js';
import { thumbnailUrl } from './thumbs.js';
import { notify } from './toast.js';

const aborts = new WeakMap();

/**
 * The <li> of `item`. Options: grid (big thumbnails), folder (search: the parent's name as a
 * Promise<string>), tabbable (the roving tab stop).
 */
export function renderItem(item, { grid = false, folder = null, tabbable = false } = {}) {
  const isFolder = item.type === 'folder';
  const tab = tabbable ? '0' : '-1';
  const date = humanDate(item.updatedAt);
  const size = isFolder ? 'Folder' : humanSize(item.size);
  const thumb = h('span', { class: 'thumb' }, icon(isFolder ? 'folder' : item.type === 'image' ? 'image' : 'file'));
  const label = [thumb, h('span', { class: 'text' },
    h('span', { class: 'label', text: item.name }),
    h('span', { class: 'sub' }, size, h('span', { class: 'sub-date', text: ` · ${date}` })))];
  const name = isFolder
    ? h('a', { class: 'name', href: folderHash(item.id), tabindex: tab, draggable: 'false', title: item.name }, label)
    : h('button', { type: 'button', class: 'name', tabindex: tab, title: item.name }, label);
  const where = folder && h('a', { class: 'cell where', href: folderHash(item.parentId), tabindex: '-1' });
  folder?.then((text) => { where.textContent = text; });
  const li = h('li', { class: `item ${item.type}`, draggable: 'true', dataset: isFolder ? { drop: item.id } : {} },
    name,
    h('span', { class: 'cell size', text: isFolder ? '—' : humanSize(item.size) }),
    h('span', { class: 'cell date', text: date }),
    where,
    h('button', { type: 'button', class: 'icon more', tabindex: tab, 'aria-label': `Actions for ${item.name}`,
      'aria-haspopup': 'menu', 'aria-expanded': 'false' }, icon('more')));
  loadThumb(li, item, grid ? 250 : 100);
  return li;
}

/** Shows `item`'s thumbnail in `li` once fetched (the icon stays if there is none). */
export function loadThumb(li, item, size) {
  if (!item.hasThumbnails) return;
  const abort = new AbortController();
  aborts.get(li)?.abort();
  aborts.set(li, abort);
  thumbnailUrl(item, size, { signal: abort.signal }).then((url) => {
    if (!url || abort.signal.aborted) return;
    const img = h('img', { alt: '', draggable: 'false', decoding: 'async' });
    img.addEventListener('load', () => { li.querySelector('.thumb').replaceChildren(img); }, { once: true });
    img.src = url;
  });
}

/** The row has left the DOM: its pending thumbnail is no longer wanted. */
export function releaseItem(li) {
  aborts.get(li)?.abort();
}

/** Opens the actions menu of `item` under `button`; focus returns to `button` when it closes by key. */
export function openMenu(button, item) {
  const actions = actionsFor(item);
  const menu = h('div', { class: 'menu', popover: 'auto', role: 'menu', 'aria-label': `Actions for ${item.name}` },
    actions.length ? actions.map((action) => h('button', {
      type: 'button', role: 'menuitem', tabindex: '-1', class: action.danger ? 'danger' : null,
      'aria-keyshortcuts': action.key || null,
      onclick: () => { menu.hidePopover(); run(action, item); },
    }, action.label, action.key ? h('kbd', { 'aria-hidden': 'true', text: action.key }) : null))
      : h('button', { type: 'button', role: 'menuitem', tabindex: '-1', 'aria-disabled': 'true', text: 'No actions' }));
  const entries = [...menu.children];
  let refocus = true;
  menu.addEventListener('keydown', (event) => {
    const at = entries.indexOf(document.activeElement);
    const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: entries.length - 1 }[event.key];
    if (to !== undefined) {
      event.preventDefault();
      entries[(to + entries.length) % entries.length].focus();
    } else if (event.key === 'Tab') {
      button.focus(); // the browser's Tab then moves on from the button
      menu.hidePopover();
    }
  });
  menu.addEventListener('beforetoggle', (event) => {
    if (event.newState === 'closed') refocus = menu.contains(document.activeElement);
  });
  menu.addEventListener('toggle', (event) => {
    if (event.newState !== 'closed') return;
    button.setAttribute('aria-expanded', 'false');
    menu.remove();
    if (refocus && button.isConnected) button.focus({ preventScroll: true });
  });
  document.body.append(menu);
  menu.showPopover();
  button.setAttribute('aria-expanded', 'true');
  const at = button.getBoundingClientRect();
  const below = at.bottom + 4 + menu.offsetHeight <= innerHeight;
  menu.style.top = `${below ? at.bottom + 4 : Math.max(4, at.top - 4 - menu.offsetHeight)}px`;
  menu.style.left = `${Math.max(4, Math.min(at.right - menu.offsetWidth, innerWidth - menu.offsetWidth - 4))}px`;
  entries[0].focus();
}

export async function run(action, item) {
  try {
    await action.run(item);
  } catch (error) {
    notify(describe(error), { kind: 'error' });
  }
}
