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
const icons = {};
const iconOf = (name) => (icons[name] ||= icon(name)).cloneNode(true); // a clone costs less than a build

/**
 * The <li> of `item`; given a row no longer shown (`reuse`), that row refilled, which costs far
 * less than a new one while scrolling. Options: grid (big thumbnails), folder (search: a Promise
 * of the parent's name), tabbable (the roving tab stop).
 */
export function renderItem(item, { grid = false, folder = null, tabbable = false } = {}, reuse = null) {
  const isFolder = item.type === 'folder';
  const kind = `${isFolder}${Boolean(folder)}`;
  let li = reuse;
  if (li?.dataset.kind !== kind) {
    li?.remove();
    li = h('li', { draggable: 'true', dataset: { kind } },
      h(isFolder ? 'a' : 'button', { class: 'name', type: isFolder ? null : 'button', draggable: isFolder && 'false' },
        h('span', { class: 'thumb' }), h('span', { class: 'text' }, h('span', { class: 'label' }),
          h('span', { class: 'sub' }, h('span'), h('span', { class: 'sub-date' })))),
      h('span', { class: 'cell size' }), h('span', { class: 'cell date' }),
      folder && h('a', { class: 'cell where', tabindex: '-1' }),
      h('button', { type: 'button', class: 'icon more', 'aria-haspopup': 'menu', 'aria-expanded': 'false' },
        iconOf('more')));
  }
  const [name, size, date, where] = li.children;
  const more = li.lastChild;
  const [thumb, { children: [label, sub] }] = name.children;
  const when = humanDate(item.updatedAt);
  li.className = `item ${item.type}`;
  li.dataset.id = item.id;
  if (isFolder) {
    li.dataset.drop = item.id;
    name.href = folderHash(item.id);
  }
  name.title = item.name;
  name.tabIndex = tabbable ? 0 : -1;
  more.tabIndex = name.tabIndex;
  more.setAttribute('aria-label', `Actions for ${item.name}`);
  const kindIcon = isFolder ? 'folder' : item.type === 'image' ? 'image' : 'file';
  if (thumb.dataset.icon !== kindIcon) thumb.replaceChildren(iconOf(kindIcon));
  thumb.dataset.icon = kindIcon; // kept while the same icon will do
  label.textContent = item.name;
  sub.firstChild.textContent = isFolder ? 'Folder' : humanSize(item.size);
  sub.lastChild.textContent = ` · ${when}`;
  size.textContent = isFolder ? '—' : humanSize(item.size);
  date.textContent = when;
  if (folder) {
    where.href = folderHash(item.parentId);
    where.textContent = '';
    folder.then((text) => {
      if (li.dataset.id !== item.id) return;
      where.textContent = text;
      sub.lastChild.textContent = ` · in ${text}`; // on a phone, where the column is not shown
    });
  }
  loadThumb(li, item, grid ? 250 : 100);
  return li;
}

/** Shows `item`'s thumbnail in `li` once fetched (the icon stays if there is none). */
export function loadThumb(li, item, size) {
  aborts.get(li)?.abort();
  if (!item.hasThumbnails) return;
  const abort = new AbortController();
  aborts.set(li, abort);
  thumbnailUrl(item, size, { signal: abort.signal }).then((url) => {
    if (!url || abort.signal.aborted) return;
    const img = h('img', { alt: '', draggable: 'false', decoding: 'async' });
    img.addEventListener('load', () => {
      const thumb = li.querySelector('.thumb');
      if (abort.signal.aborted) return;
      thumb.dataset.icon = '';
      thumb.replaceChildren(img);
    }, { once: true });
    img.src = url;
  });
}

/** The row has left the DOM: its pending thumbnail is no longer wanted. */
export function releaseItem(li) {
  aborts.get(li)?.abort();
}

/**
 * Opens the actions menu of `item` under `button`; focus returns to `button` when it closes by key.
 * `siblings`: the items listed with it (an action may use them: Previous/Next in a preview).
 */
export function openMenu(button, item, siblings) {
  const actions = actionsFor(item);
  const menu = h('div', { class: 'menu', popover: 'auto', role: 'menu', 'aria-label': `Actions for ${item.name}` },
    actions.length ? actions.map((action) => h('button', {
      type: 'button', role: 'menuitem', tabindex: '-1', class: action.danger ? 'danger' : null,
      'aria-keyshortcuts': action.key || null,
      onclick: () => { menu.hidePopover(); run(action, item, siblings); },
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
    if (event.newState === 'closed') refocus &&= menu.contains(document.activeElement);
  });
  const scrolled = () => {
    refocus = false;
    menu.hidePopover();
  };
  addEventListener('scroll', scrolled, { passive: true }); // the row under it moves away, or is reused
  menu.addEventListener('toggle', (event) => {
    if (event.newState !== 'closed') return;
    removeEventListener('scroll', scrolled);
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

export async function run(action, item, siblings) {
  try {
    await action.run(item, siblings);
  } catch (error) {
    notify(describe(error), { kind: 'error' });
  }
}
