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
const NEAR_END = 60; // items left below the view when the next page is fetched
const DRAG_TYPE = 'application/x-files-manager-items';
const SORTS = [['name', 'Name A–Z'], ['-name', 'Name Z–A'], ['-updatedAt', 'Newest'], ['updatedAt', 'Oldest'],
  ['-size', 'Largest'], ['size', 'Smallest']];
const pref = (key, allowed) => {
  const value = localStorage.getItem(`files-manager.${key}`);
  return allowed.includes(value) ? value : allowed[0];
};
const setPref = (key, value) => localStorage.setItem(`files-manager.${key}`, value);
const fileUrl = (id) => `/v2/files/${encodeURIComponent(id)}`;

export function renderFolder(main, route) {
  const folderId = route.params[0] || '0';
  state.folderId = folderId;
  const root = folderId === '0';
  const title = h('h1', { text: root ? 'My files' : '' });
  const crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Breadcrumb', hidden: root });
  const view = browser(main, {
    query: { parentId: folderId },
    heading: [crumbs, title],
    tools: [
      h('button', { type: 'button', class: 'primary', onclick: () => newFolder(folderId) }, icon('folder'), 'New folder'),
      h('button', { type: 'button', onclick: () => pickFiles(folderId) }, icon('upload'), 'Upload files'),
      h('button', { type: 'button', onclick: () => pickFolder(folderId) }, icon('upload'), 'Upload folder'),
    ],
    empty: 'This folder is empty. Drop files here or use Upload.',
    label: root ? 'My files' : 'Folder contents',
    watch: (ids) => !ids || ids.map(String).includes(folderId),
  });
  if (!root) {
    api(fileUrl(folderId), { signal: view.signal }).then((folder) => {
      if (folder.type !== 'folder' || folder.trashedAt) return view.missing();
      title.textContent = folder.name;
      document.title = `${folder.name} · Files`;
      view.setParent(String(folder.parentId));
      crumbs.append(h('ol', {}, [{ id: '0', name: 'My files' }, ...folder.path].map((crumb) =>
        h('li', {}, h('a', { href: folderHash(crumb.id), dataset: { drop: crumb.id }, text: crumb.name })))));
      return null;
    }).catch(view.fail);
  }
  return view.cleanup;
}

export function renderSearch(main, route) {
  const q = route.query.q || '';
  if (!q) return go('#/files/0');
  const input = document.getElementById('search-input');
  if (input) input.value = q;
  return browser(main, {
    query: { q },
    heading: h('h1', { text: `Results for “${q}”` }),
    empty: `Nothing here has a name containing “${q}”.`,
    label: `Results for ${q}`,
    search: true,
    watch: () => true,
  }).cleanup;
}

function newFolder(parentId) {
  return promptText({
    title: 'New folder', label: 'Folder name', confirmLabel: 'Create',
    submit: async (name) => {
      try {
        await api('/v2/files', { method: 'POST', json: { name, type: 'folder', parentId } });
      } catch (error) {
        throw new Error(describe(error));
      }
      emit('files-changed', { parentIds: [parentId] });
      return name;
    },
  });
}

/** The list/grid shared by a folder and search results. */
function browser(main, { query, heading, tools = [], empty, label, search = false, watch }) {
  const abort = new AbortController();
  const { signal } = abort;
  let sort = pref('sort', SORTS.map(([value]) => value));
  let grid = pref('view', ['list', 'grid']) === 'grid';
  let items = [];
  let next = null;
  let done = false;
  let loading = false;
  let gen = 0; // bumped on each reload: answers for an older one are dropped
  let active = 0; // the row holding the tab stop
  let parent = null;
  let lastFocus = null;
  let dragged = null;
  let over = null;
  let stopped = false;

  const status = h('div', { class: 'status', role: 'status' });
  const vlist = virtualList({ label, render, release: releaseItem, onRange });
  const select = h('select', { id: 'sort-select' },
    SORTS.map(([value, text]) => h('option', { value, text, selected: value === sort })));
  select.addEventListener('change', () => { sort = select.value; setPref('sort', sort); reload(); });
  const toggles = [['list', 'List'], ['grid', 'Grid']].map(([mode, text]) => h('button', {
    type: 'button', 'aria-pressed': String(grid === (mode === 'grid')), onclick: () => setGrid(mode === 'grid'),
  }, icon(mode), h('span', { class: 'toggle-text', text })));
  const section = h('section', { class: `browser${grid ? ' grid' : ''}${search ? ' results' : ''}` },
    h('header', { class: 'browser-head' }, heading),
    h('div', { class: 'toolbar' }, tools.length ? h('div', { class: 'tools' }, tools) : null, h('span', { class: 'spacer' }),
      h('span', { class: 'sort' }, h('label', { for: 'sort-select', text: 'Sort by' }), select),
      h('div', { class: 'view-toggle', role: 'group', 'aria-label': 'View' }, toggles)),
    h('div', { class: 'list-head', 'aria-hidden': 'true' }, h('span', { text: 'Name' }), h('span', { text: 'Size' }),
      h('span', { text: 'Modified' }), search ? h('span', { text: 'Folder' }) : null, h('span')),
    vlist.el, status);
  main.append(section);
  vlist.layout();

  const folderNames = new Map([['0', Promise.resolve('My files')]]);
  function folderName(id) {
    const key = String(id);
    if (!folderNames.has(key)) folderNames.set(key, api(fileUrl(key), { signal }).then((f) => f.name, () => ''));
    return folderNames.get(key);
  }

  function render(index) {
    const item = items[index];
    const li = renderItem(item, { grid, tabbable: index === active, folder: search ? folderName(item.parentId) : null });
    li.setAttribute('aria-setsize', done ? items.length : -1);
    if (item.type === 'image' && !item.hasThumbnails) awaitThumbnails(item);
    return li;
  }

  function onRange(first, last) {
    if (!vlist.element(active)) setActive(first);
    if (last >= items.length - NEAR_END) loadMore();
  }

  function setActive(index) {
    for (const [at, tab] of [[active, -1], [index, 0]]) {
      for (const control of vlist.element(at)?.querySelectorAll('.name, .more') || []) control.tabIndex = tab;
    }
    active = index;
  }

  function focusIndex(index, part = 'name') {
    if (!items.length) return;
    const at = Math.max(0, Math.min(items.length - 1, index));
    setActive(at);
    vlist.show(at).querySelector(part === 'more' ? '.more' : '.name').focus({ preventScroll: true });
  }

  function showStatus(error) {
    status.replaceChildren();
    section.classList.toggle('is-empty', done && !items.length);
    vlist.el.setAttribute('aria-busy', String(loading));
    if (error) {
      status.append(h('p', { class: 'form-error', text: describe(error) }),
        h('button', { type: 'button', onclick: () => loadMore(), text: 'Try again' }));
    } else if (loading) {
      status.append(h('p', { class: 'muted', text: items.length ? 'Loading more…' : 'Loading…' }));
    } else if (done && !items.length) {
      status.append(h('p', { class: 'empty', text: empty }));
    }
  }

  function fetchPage(cursor, limit) {
    const params = new URLSearchParams({ ...query, sort, limit });
    if (cursor) params.set('cursor', cursor);
    return api(`/v2/files?${params}`, { signal });
  }

  function failed(error) {
    if (error.name === 'AbortError') return true;
    if (!search && (error.status === 404 || error.status === 400)) {
      missing();
      return true;
    }
    return false;
  }

  async function loadMore() {
    if (loading || done || stopped) return;
    const mine = gen;
    loading = true;
    showStatus();
    try {
      const page = await fetchPage(next, PAGE);
      if (mine !== gen) return;
      items.push(...page.items);
      next = page.next;
      done = !next;
      loading = false;
      vlist.setCount(items.length);
      if (done) for (const li of vlist.el.querySelectorAll('.item')) li.setAttribute('aria-setsize', items.length);
      showStatus();
    } catch (error) {
      if (mine !== gen || failed(error)) return;
      loading = false;
      showStatus(error);
    }
  }

  function reload() {
    gen += 1;
    items = [];
    next = null;
    done = false;
    loading = false;
    active = 0;
    vlist.setCount(0);
    vlist.reset();
    scrollTo(0, 0);
    loadMore();
  }

  // After a change: the first pages again, as many items as were loaded, the scroll position kept.
  let refreshing = false;
  let again = false;
  async function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    const mine = ++gen;
    const want = Math.max(items.length, PAGE);
    loading = true;
    try {
      const got = [];
      let cursor = null;
      do {
        const page = await fetchPage(cursor, Math.min(1000, want - got.length));
        got.push(...page.items);
        cursor = page.next;
      } while (cursor && got.length < want);
      if (mine === gen) swap(got, cursor);
    } catch (error) {
      if (mine === gen && !failed(error)) notify(describe(error), { kind: 'error' });
    } finally {
      if (mine === gen) loading = false;
      refreshing = false;
      if (again && !stopped) {
        again = false;
        refresh();
      }
    }
  }

  function swap(got, cursor) {
    const hadFocus = vlist.el.contains(document.activeElement);
    const dialog = document.activeElement?.closest('dialog');
    items = got;
    next = cursor;
    done = !cursor;
    loading = false;
    active = Math.min(active, Math.max(0, items.length - 1));
    vlist.setCount(items.length);
    vlist.reset();
    showStatus();
    const back = lastFocus;
    const refocus = () => {
      if (!back || stopped) return;
      const index = items.findIndex((item) => item.id === back.id);
      focusIndex(index < 0 ? back.index : index, back.part);
    };
    if (hadFocus) refocus();
    else if (dialog && back) {
      // A dialog opened from a row returns focus to a row replaced meanwhile: put it on the new one.
      dialog.addEventListener('close', () => setTimeout(() => {
        if (document.activeElement === document.body) refocus();
      }), { once: true });
    }
  }

  function missing() {
    stop();
    section.replaceChildren(h('h1', { text: 'Folder not found' }),
      h('p', { class: 'empty' }, 'This folder does not exist. ', h('a', { href: '#/files/0', text: 'Go to My files' })));
  }

  function setGrid(on) {
    grid = on;
    setPref('view', on ? 'grid' : 'list');
    toggles.forEach((button, i) => button.setAttribute('aria-pressed', String((i === 1) === on)));
    section.classList.toggle('grid', on);
    vlist.reset();
  }

  // A freshly uploaded image has no thumbnails until the worker has made them: ask for the
  // document again, with backoff, rather than for thumbnails that may not exist yet (404s).
  const waiting = new Set();
  async function awaitThumbnails(item) {
    if (waiting.has(item.id) || Date.now() - Date.parse(item.updatedAt) > 600_000) return;
    waiting.add(item.id);
    for (let wait = 500; wait <= 16_000 && !stopped; wait *= 2) {
      await new Promise((resolve) => { setTimeout(resolve, wait); });
      let doc;
      try {
        doc = await api(fileUrl(item.id), { signal });
      } catch {
        return;
      }
      if (!doc.hasThumbnails && doc.type === 'image') continue;
      delete doc.path;
      const index = items.findIndex((other) => other.id === doc.id);
      if (index < 0) return;
      items[index] = doc;
      const li = vlist.element(index);
      if (li) loadThumb(li, doc, grid ? 250 : 100);
      return;
    }
  }

  const itemOf = (target) => {
    const li = target.closest?.('.item');
    return li ? [li, items[Number(li.dataset.index)]] : [null, null];
  };

  vlist.el.addEventListener('focusin', (event) => {
    const [li, item] = itemOf(event.target);
    if (!li) return;
    setActive(Number(li.dataset.index));
    lastFocus = { id: item.id, index: active, part: event.target.classList.contains('more') ? 'more' : 'name' };
  });

  vlist.el.addEventListener('click', (event) => {
    const [li, item] = itemOf(event.target);
    if (!li) return;
    const more = event.target.closest('.more');
    if (more) openMenu(more, item);
    else if (event.target.closest('button.name')) {
      const open = actionsFor(item).find((action) => action.id === 'open');
      if (open) run(open, item);
      else openMenu(li.querySelector('.more'), item);
    }
  });

  vlist.el.addEventListener('contextmenu', (event) => {
    const [li, item] = itemOf(event.target);
    if (!li) return;
    event.preventDefault();
    openMenu(li.querySelector('.more'), item);
  });

  vlist.el.addEventListener('keydown', (event) => {
    const [li, item] = itemOf(event.target);
    if (!li || event.ctrlKey || event.metaKey) return;
    const index = Number(li.dataset.index);
    const cols = vlist.cols();
    const page = vlist.rowsPerPage() * cols;
    const moves = { ArrowDown: index + cols, ArrowUp: index - cols, Home: 0, End: items.length - 1,
      PageDown: index + page, PageUp: index - page };
    if (cols > 1) Object.assign(moves, { ArrowRight: index + 1, ArrowLeft: index - 1 });
    if ((event.key === 'Backspace' || (event.altKey && event.key === 'ArrowUp')) && parent !== null) {
      event.preventDefault();
      go(folderHash(parent));
    } else if (event.key in moves && !event.altKey) {
      event.preventDefault();
      focusIndex(moves[event.key], event.target.classList.contains('more') ? 'more' : 'name');
    } else if (!event.altKey) {
      const action = actionForKey(item, event.key);
      if (!action) return;
      event.preventDefault();
      run(action, item);
    }
  });

  // Moves by drag and drop inside the app. Files from the desktop (type 'Files') are the
  // uploads module's: never prevented or stopped here.
  const dropTarget = (event) => {
    const target = event.target.closest?.('[data-drop]');
    const id = target?.dataset.drop;
    const fits = dragged && id && dragged.every((item) => item.id !== id && String(item.parentId) !== id);
    return fits ? target : null;
  };
  const highlight = (target) => {
    if (over === target) return;
    over?.classList.remove('drop-over');
    target?.classList.add('drop-over');
    over = target;
  };
  section.addEventListener('dragstart', (event) => {
    const [li, item] = itemOf(event.target);
    if (!li) return;
    dragged = [item];
    event.dataTransfer.setData(DRAG_TYPE, JSON.stringify({ ids: [item.id], items: dragged }));
    event.dataTransfer.setData('text/plain', item.name);
    event.dataTransfer.effectAllowed = 'move';
    li.classList.add('dragging');
  });
  section.addEventListener('dragend', (event) => {
    event.target.classList?.remove('dragging');
    highlight(null);
    dragged = null;
  });
  section.addEventListener('dragover', (event) => {
    if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
    const target = dropTarget(event);
    highlight(target);
    if (target) {
      event.preventDefault();
      event.dataTransfer.dropEffect = 'move';
    }
  });
  section.addEventListener('dragleave', (event) => {
    if (!section.contains(event.relatedTarget)) highlight(null);
  });
  section.addEventListener('drop', (event) => {
    if (!event.dataTransfer.types.includes(DRAG_TYPE)) return;
    const target = dropTarget(event);
    highlight(null);
    if (!target) return;
    event.preventDefault();
    const moving = JSON.parse(event.dataTransfer.getData(DRAG_TYPE)).items;
    Promise.resolve(moveTo(moving, target.dataset.drop)).catch((error) => notify(describe(error), { kind: 'error' }));
  });

  const unwatch = on('files-changed', ({ parentIds } = {}) => { if (watch(parentIds)) refresh(); });
  function stop() {
    stopped = true;
    abort.abort();
    vlist.destroy();
    unwatch();
  }

  loadMore();
  return {
    signal,
    missing,
    setParent: (id) => { parent = id; },
    fail: (error) => { if (!failed(error)) notify(describe(error), { kind: 'error' }); },
    cleanup: () => { if (!stopped) stop(); },
  };
}
