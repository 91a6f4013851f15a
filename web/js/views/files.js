// A folder's items (list or grid, sorted, scrolled endlessly) and search results.
import { api } from '../api.js';
import { promptText } from '../dialog.js';
import { h, icon } from '../dom.js';
import { emit, on } from '../events.js';
import { actionForKey, actionsFor } from '../item_actions.js';
import { loadThumb, openMenu, releaseItem, renderItem, run } from '../item_view.js';
import { describe } from '../messages.js';
import { moveTo } from '../moves.js';
import { folderHash, go } from '../router.js';
import { state } from '../state.js';
import { notify } from '../toast.js';
import { pickFiles, pickFolder } from '../uploads.js';
import { virtualList } from '../virtual_list.js';

const PAGE = 200;
const DRAG = 'application/x-files-manager-items';
const SORTS = { name: 'Name A–Z', '-name': 'Name Z–A', '-updatedAt': 'Newest', updatedAt: 'Oldest',
  '-size': 'Largest', size: 'Smallest' };
const pref = (key, values) => {
  const value = localStorage.getItem(`files-manager.${key}`);
  return values.includes(value) ? value : values[0];
};
const fileUrl = (id) => `/v2/files/${encodeURIComponent(id)}`;
const oops = (error) => notify(describe(error), { kind: 'error' });

export function renderFolder(main, route) {
  const id = route.params[0] || '0';
  state.folderId = id;
  const title = h('h1', { text: id === '0' ? 'My files' : '' });
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb', hidden: id === '0' });
  const button = (text, name, onclick, kind) => h('button', { type: 'button', class: kind, onclick }, icon(name), text);
  const view = browser(main, {
    query: { parentId: id },
    heading: [crumbs, title],
    tools: [button('New folder', 'folder', () => newFolder(id), 'primary'),
      button('Upload files', 'upload', () => pickFiles(id)), button('Upload folder', 'upload', () => pickFolder(id))],
    empty: 'This folder is empty. Drop files here or use Upload.',
    watch: (ids) => !ids || ids.map(String).includes(id),
  });
  if (id !== '0') {
    api(fileUrl(id), { signal: view.signal }).then((folder) => {
      if (folder.type !== 'folder' || folder.trashedAt) return view.missing({ status: 404 });
      title.textContent = folder.name;
      document.title = `${folder.name} · Files`;
      view.parent = String(folder.parentId);
      return crumbs.append(h('ol', {}, [{ id: '0', name: 'My files' }, ...folder.path].map((crumb) =>
        h('li', {}, h('a', { href: folderHash(crumb.id), dataset: { drop: crumb.id }, text: crumb.name })))));
    }).catch((error) => error.name === 'AbortError' || view.missing(error) || oops(error));
  }
  return view.stop;
}

export function renderSearch(main, route) {
  const { q } = route.query;
  if (!q) return go('#/files/0');
  document.getElementById('search-input').value = q;
  return browser(main, {
    query: { q }, search: true, watch: () => true,
    heading: h('h1', { text: `Results for “${q}”` }),
    empty: `Nothing here has a name containing “${q}”.`,
  }).stop;
}

function newFolder(parentId) {
  return promptText({
    title: 'New folder', label: 'Folder name', confirmLabel: 'Create',
    submit: async (name) => {
      await api('/v2/files', { method: 'POST', json: { name, type: 'folder', parentId } }).catch((error) => {
        throw new Error(describe(error));
      });
      emit('files-changed', { parentIds: [parentId] });
      return name;
    },
  });
}

/** The list or grid of a folder or of search results. */
function browser(main, { query, heading, tools = [], empty, search = false, watch }) {
  const abort = new AbortController();
  const { signal } = abort;
  let sort = pref('sort', Object.keys(SORTS));
  let grid = pref('view', ['list', 'grid']) === 'grid';
  let items = [];
  let next = null;
  let done = false;
  let loading = false;
  let gen = 0; // each load's number: an older load's answer is dropped
  let active = 0; // the row holding the list's one tab stop
  let dragged = null;
  let over = null;

  const status = h('div', { class: 'status', role: 'status' });
  const vlist = virtualList({
    label: search ? 'Results' : 'Files and folders', render, release: releaseItem,
    onRange: (first, last) => {
      if (!vlist.element(active)) setActive(first);
      if (last >= items.length - 60) load('more');
    },
  });
  const select = h('select', { id: 'sort-select' },
    Object.entries(SORTS).map(([value, text]) => h('option', { value, text, selected: value === sort })));
  select.onchange = () => {
    sort = select.value;
    localStorage.setItem('files-manager.sort', sort);
    load('reset');
  };
  const toggles = ['List', 'Grid'].map((text, i) => h('button', {
    type: 'button', 'aria-pressed': String(grid === !!i), onclick: () => setGrid(!!i),
  }, icon(text.toLowerCase()), h('span', { class: 'toggle-text', text })));
  const section = h('section', { class: `browser${grid ? ' grid' : ''}${search ? ' results' : ''}` },
    heading,
    h('div', { class: 'toolbar' }, tools.length ? h('div', { class: 'tools' }, tools) : null, h('span', { class: 'spacer' }),
      h('span', { class: 'sort' }, h('label', { for: 'sort-select', text: 'Sort by' }), select),
      h('div', { class: 'view-toggle', role: 'group', 'aria-label': 'View' }, toggles)),
    h('div', { class: 'list-head', 'aria-hidden': 'true' },
      ['Name', 'Size', 'Modified', search && 'Folder', ''].map((text) => text !== false && h('span', { text }))),
    vlist.el, status);
  main.append(section);
  vlist.layout();

  const folderNames = new Map([['0', Promise.resolve('My files')]]);
  const folderName = (id) => {
    if (!folderNames.has(`${id}`)) folderNames.set(`${id}`, api(fileUrl(id), { signal }).then((f) => f.name, () => ''));
    return folderNames.get(`${id}`);
  };

  function render(index, reuse) {
    const item = items[index];
    const li = renderItem(item, { grid, tabbable: index === active, folder: search && folderName(item.parentId) },
      reuse);
    li.setAttribute('aria-setsize', done ? items.length : -1);
    if (item.type === 'image' && !item.hasThumbnails) awaitThumbnails(item);
    return li;
  }

  function setActive(index) {
    for (const [at, tab] of [[active, -1], [index, 0]]) {
      for (const control of vlist.element(at)?.querySelectorAll('.name, .more') || []) control.tabIndex = tab;
    }
    active = index;
  }

  function focusIndex(index, part) {
    if (!items.length) return;
    setActive(Math.max(0, Math.min(items.length - 1, index)));
    vlist.show(active).querySelector(part).focus({ preventScroll: true });
  }

  function showStatus(error) {
    section.classList.toggle('is-empty', done && !items.length);
    vlist.el.setAttribute('aria-busy', loading);
    const text = error ? describe(error) : loading ? 'Loading…' : done && !items.length && empty;
    status.replaceChildren(text ? h('p', { class: error ? 'form-error' : items.length ? 'muted' : 'empty', text }) : '',
      error ? h('button', { type: 'button', onclick: () => load(items.length ? 'more' : 'reset') }, 'Try again') : '');
  }

  // 'more': the next page; 'refresh': the first pages again, as many items as were shown (the
  // scroll position stays); 'reset': the first page, from the top (a new order).
  async function load(mode) {
    if (mode === 'more' && (loading || done || signal.aborted)) return;
    const mine = ++gen;
    const want = mode === 'refresh' ? Math.max(items.length, PAGE) : PAGE;
    let cursor = mode === 'more' ? next : null;
    if (mode === 'reset') {
      items = [];
      vlist.setCount(0);
      scrollTo(0, 0);
    }
    loading = true;
    showStatus();
    try {
      const got = [];
      do {
        const params = new URLSearchParams({ ...query, sort, limit: Math.min(1000, want - got.length) });
        if (cursor) params.set('cursor', cursor);
        const page = await api(`/v2/files?${params}`, { signal });
        got.push(...page.items);
        cursor = page.next;
      } while (cursor && got.length < want);
      if (mine !== gen) return;
      loading = false;
      next = cursor;
      done = !cursor;
      if (mode === 'more') {
        items.push(...got);
        vlist.setCount(items.length);
        if (done) for (const li of vlist.el.querySelectorAll('.item')) li.setAttribute('aria-setsize', items.length);
      } else swap(got);
      showStatus();
    } catch (error) {
      if (mine !== gen || error.name === 'AbortError') return;
      loading = false;
      if (!missing(error)) showStatus(error);
    }
  }

  // New items for old (a refresh): the focus stays on the same item, or at the same place.
  function swap(got) {
    const focused = document.activeElement;
    const li = focused?.closest('.vlist .item');
    const id = li && items[li.dataset.index]?.id;
    items = got;
    active = Math.min(active, Math.max(0, items.length - 1));
    vlist.setCount(items.length);
    vlist.reset();
    const index = items.findIndex((item) => item.id === id);
    if (li) focusIndex(index < 0 ? Number(li.dataset.index) : index, focused.matches('.more') ? '.more' : '.name');
  }

  /** A 404: a folder that is not there (or no longer) says so. */
  function missing(error) {
    if (search || error.status !== 404) return false;
    stop();
    section.replaceChildren(h('h1', { text: 'Folder not found' }), h('p', { class: 'empty' },
      'This folder does not exist. ', h('a', { href: '#/files/0', text: 'Go to My files' })));
    return true;
  }

  function setGrid(on) {
    grid = on;
    localStorage.setItem('files-manager.view', on ? 'grid' : 'list');
    toggles.forEach((button, i) => button.setAttribute('aria-pressed', on === !!i));
    section.classList.toggle('grid', on);
    vlist.reset();
  }

  // A fresh image has no thumbnails until the worker has made them: its document is asked for
  // again, with backoff, rather than thumbnails that may not exist yet (404s the browser logs).
  const waiting = new Set();
  async function awaitThumbnails({ id, updatedAt }) {
    if (waiting.has(id) || Date.now() - Date.parse(updatedAt) > 600_000) return;
    waiting.add(id);
    for (let wait = 500; wait <= 16_000; wait *= 2) {
      await new Promise((resolve) => { setTimeout(resolve, wait); });
      const doc = await api(fileUrl(id), { signal }).catch(() => null);
      if (doc?.hasThumbnails) {
        const index = items.findIndex((item) => item.id === id);
        if (index >= 0) items[index] = doc;
        const li = vlist.element(index);
        if (li) loadThumb(li, doc, grid ? 250 : 100);
      }
      if (!doc || doc.hasThumbnails) return;
    }
  }

  const itemOf = (target) => {
    const li = target.closest?.('.item');
    return li ? [li, items[li.dataset.index]] : [];
  };

  vlist.el.addEventListener('focusin', ({ target }) => {
    const [li] = itemOf(target);
    if (li) setActive(Number(li.dataset.index));
  });

  vlist.el.addEventListener('click', ({ target }) => {
    const [li, item] = itemOf(target);
    const open = item && actionsFor(item).find((action) => action.id === 'open');
    if (target.closest('.more')) openMenu(target.closest('.more'), item, items);
    else if (!target.closest('button.name')) return;
    else if (open) run(open, item, items);
    else openMenu(li.querySelector('.more'), item, items);
  });

  vlist.el.addEventListener('keydown', (event) => {
    const [li, item] = itemOf(event.target);
    const { key, altKey } = event;
    if (!li || event.ctrlKey || event.metaKey) return;
    const index = Number(li.dataset.index);
    const cols = vlist.cols();
    const page = vlist.rowsPerPage() * cols;
    const moves = { ArrowDown: index + cols, ArrowUp: index - cols, Home: 0, End: items.length - 1,
      PageDown: index + page, PageUp: index - page, ...(cols > 1 && { ArrowRight: index + 1, ArrowLeft: index - 1 }) };
    const action = !altKey && actionForKey(item, key);
    if ((key === 'Backspace' || (altKey && key === 'ArrowUp')) && view.parent) go(folderHash(view.parent));
    else if (key in moves && !altKey) focusIndex(moves[key], event.target.matches('.more') ? '.more' : '.name');
    else if (action) run(action, item, items);
    else return;
    event.preventDefault();
  });

  // Moves by drag and drop inside the app. Files from the desktop (type 'Files') are the uploads
  // module's: never prevented or stopped here.
  const highlight = (target) => {
    over?.classList.remove('drop-over');
    target?.classList.add('drop-over');
    over = target;
  };
  const targetOf = (event) => {
    if (!event.dataTransfer.types.includes(DRAG)) return null;
    const target = event.target.closest?.('[data-drop]');
    const id = target?.dataset.drop;
    return dragged?.every((item) => item.id !== id && `${item.parentId}` !== id) ? target : null;
  };
  section.addEventListener('dragstart', (event) => {
    const [li, item] = itemOf(event.target);
    if (!li) return;
    dragged = [item];
    event.dataTransfer.setData(DRAG, JSON.stringify({ ids: [item.id], items: dragged }));
    event.dataTransfer.setData('text/plain', item.name);
    event.dataTransfer.effectAllowed = 'move';
    li.classList.add('dragging');
  });
  section.addEventListener('dragend', (event) => {
    event.target.classList?.remove('dragging');
    highlight(dragged = null);
  });
  section.addEventListener('dragover', (event) => {
    highlight(targetOf(event));
    if (over) event.preventDefault();
  });
  section.addEventListener('dragleave', (event) => {
    if (!section.contains(event.relatedTarget)) highlight(null);
  });
  section.addEventListener('drop', (event) => {
    const target = targetOf(event);
    highlight(null);
    if (!target) return;
    event.preventDefault();
    Promise.resolve(moveTo(JSON.parse(event.dataTransfer.getData(DRAG)).items, target.dataset.drop)).catch(oops);
  });

  const unwatch = on('files-changed', ({ parentIds } = {}) => watch(parentIds) && load('refresh'));
  function stop() {
    abort.abort();
    vlist.destroy();
    unwatch();
  }

  load('reset');
  const view = { signal, stop, missing, parent: null };
  return view;
}
