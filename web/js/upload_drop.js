// Files and folders dragged from the desktop onto any part of the page: a
// full-window overlay names the folder they will go to; a dropped folder
// keeps its tree. Drags inside the app (moves) are not ours.
import { api } from './api.js';
import { h } from './dom.js';
import { emit } from './events.js';
import { current } from './router.js';
import { token } from './session.js';
import { state } from './state.js';

const INTERNAL = 'application/x-files-manager-items';
const names = new Map([['0', 'My files']]);

/** Sends what is dropped to enqueue(entries, parentId). */
export function startDrop(enqueue) {
  const text = h('p');
  const overlay = h('div', { class: 'drop-overlay', hidden: true }, text);
  document.body.append(overlay);
  const fromOutside = (event) => {
    const types = [...(event.dataTransfer?.types || [])];
    return types.includes('Files') && !types.includes(INTERNAL);
  };
  const hide = () => { overlay.hidden = true; };
  document.addEventListener('dragenter', (event) => {
    if (!fromOutside(event) || !token() || !overlay.hidden) return;
    const id = target();
    text.textContent = `Drop to upload to ${names.get(id) || 'this folder'}`;
    overlay.hidden = false;
    if (!names.has(id)) {
      api(`/v2/files/${encodeURIComponent(id)}`).then((folder) => {
        names.set(id, folder.name);
        if (target() === id) text.textContent = `Drop to upload to ${folder.name}`;
      }, () => {});
    }
  });
  document.addEventListener('dragover', (event) => {
    if (!fromOutside(event)) return;
    // Always: else the browser would open the file in place of the app.
    event.preventDefault();
    event.dataTransfer.dropEffect = token() ? 'copy' : 'none';
  });
  overlay.addEventListener('dragleave', (event) => {
    if (!overlay.contains(event.relatedTarget)) hide();
  });
  document.addEventListener('drop', (event) => {
    if (!fromOutside(event)) return;
    event.preventDefault();
    hide();
    if (!token()) return;
    const parentId = target();
    // Entries must be taken now: the DataTransfer is emptied when this handler returns.
    const items = [...event.dataTransfer.items].filter((item) => item.kind === 'file')
      .map((item) => item.webkitGetAsEntry?.() || item.getAsFile());
    collect(items).then((entries) => enqueue(entries, parentId));
  });
}

/** Where a drop goes: the folder shown, else (trash, search, account) My files. */
function target() {
  return current().name === 'files' ? String(state.folderId) : '0';
}

/** [{file, path}] of dropped files and directory entries, read fully (readEntries answers in batches). */
async function collect(items) {
  const entries = [];
  const walk = async (entry, prefix) => {
    if (!entry) return;
    if (entry instanceof File) return entries.push({ file: entry, path: entry.name });
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      return entries.push({ file, path: prefix + file.name });
    }
    const path = `${prefix}${entry.name}/`;
    const reader = entry.createReader();
    let batch;
    let empty = true;
    do {
      batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      for (const child of batch) await walk(child, path).catch(() => {});
      empty &&= !batch.length;
    } while (batch.length);
    if (empty) entries.push({ file: null, path });
  };
  for (const item of items) await walk(item, '').catch(() => {});
  return entries;
}

/**
 * The folders of one drop or pick below `parentId`: `folder('a/b/c.txt')` makes
 * (or finds, by name) 'a' then 'a/b', once each however many files they hold.
 */
export function newBatch(parentId) {
  const made = new Map(); // 'parent/name' -> Promise<id>
  const listings = new Map(); // parent -> Promise<Map<name, id>> of its folders
  const folders = (parent) => {
    if (!listings.has(parent)) {
      const promise = list(parent);
      promise.catch(() => listings.delete(parent));
      listings.set(parent, promise);
    }
    return listings.get(parent);
  };
  const child = (parent, name) => {
    const key = `${parent}/${name}`;
    if (!made.has(key)) {
      const promise = (async () => {
        const found = (await folders(parent)).get(name);
        if (found) return found;
        const folder = await api('/v2/files', { method: 'POST', json: { name, type: 'folder', parentId: parent } });
        listings.set(folder.id, Promise.resolve(new Map()));
        emit('files-changed', { parentIds: [parent] });
        return folder.id;
      })();
      promise.catch(() => made.delete(key)); // a retry tries again
      made.set(key, promise);
    }
    return made.get(key);
  };
  return {
    async folder(path) {
      let id = parentId;
      for (const name of path.split('/').slice(0, -1).filter(Boolean)) id = await child(id, name.normalize('NFC'));
      return id;
    },
  };
}

async function list(parentId) {
  const folders = new Map();
  let cursor = '';
  do {
    const query = new URLSearchParams({ parentId, limit: '1000' });
    if (cursor) query.set('cursor', cursor);
    const page = await api(`/v2/files?${query}`);
    for (const item of page.items) if (item.type === 'folder') folders.set(item.name, item.id);
    cursor = page.next;
  } while (cursor);
  return folders;
}
