// Files and folders dragged from the desktop onto the page: a full-window
// overlay names the folder they go to; a dropped folder keeps its tree.
// Drags inside the app (moves) are not ours.
import { api } from './api.js';
import { h } from './dom.js';
import { emit } from './events.js';
import { current } from './router.js';
import { token } from './session.js';
import { state } from './state.js';

const names = { 0: 'My files' };

/** Sends what is dropped to enqueue(entries, parentId). */
export function startDrop(enqueue) {
  const text = h('p');
  const overlay = h('div', { class: 'drop-overlay', hidden: true }, text);
  document.body.append(overlay);
  const ours = (event) => {
    const types = event.dataTransfer?.types || [];
    return types.includes('Files') && !types.includes('application/x-files-manager-items');
  };
  const say = (id) => { text.textContent = `Drop to upload to ${names[id] || 'this folder'}`; };
  document.addEventListener('dragenter', (event) => {
    if (!ours(event) || !token() || !overlay.hidden) return;
    const id = target();
    say(id);
    overlay.hidden = false;
    if (!names[id]) api(`/v2/files/${encodeURIComponent(id)}`).then((folder) => { names[id] = folder.name; say(id); }, () => {});
  });
  document.addEventListener('dragover', (event) => {
    if (!ours(event)) return;
    event.preventDefault(); // always: else the browser opens the file in place of the app
    event.dataTransfer.dropEffect = token() ? 'copy' : 'none';
  });
  overlay.addEventListener('dragleave', (event) => {
    if (!overlay.contains(event.relatedTarget)) overlay.hidden = true;
  });
  document.addEventListener('drop', (event) => {
    if (!ours(event)) return;
    event.preventDefault();
    overlay.hidden = true;
    if (!token()) return;
    const parentId = target();
    // Taken now: the DataTransfer is emptied when this handler returns.
    const items = [...event.dataTransfer.items].filter((item) => item.kind === 'file')
      .map((item) => item.webkitGetAsEntry?.() || item.getAsFile());
    collect(items).then((entries) => enqueue(entries, parentId));
  });
}

/** The folder shown, else (trash, search, account) My files. */
function target() {
  return current().name === 'files' ? String(state.folderId) : '0';
}

/** [{file, path}] of dropped files and folders, read fully (readEntries answers in batches). */
async function collect(items) {
  const entries = [];
  const call = (f) => new Promise((resolve, reject) => f(resolve, reject));
  const walk = async (entry, prefix) => {
    if (entry instanceof File) return entries.push({ file: entry, path: entry.name });
    if (entry.isFile) return entries.push({ file: await call((...a) => entry.file(...a)), path: prefix + entry.name });
    const path = `${prefix}${entry.name}/`;
    const reader = entry.createReader();
    let batch;
    let empty = true;
    while ((batch = await call((...a) => reader.readEntries(...a))).length) {
      empty = false;
      for (const child of batch) await walk(child, path).catch(() => {});
    }
    if (empty) entries.push({ file: null, path });
  };
  for (const item of items) await walk(item, '').catch(() => {});
  return entries;
}

/**
 * The folders of one drop or pick below `parentId`: `folder('a/b/c.txt')` finds
 * (by name) or makes 'a' then 'a/b', once each however many files they hold.
 */
export function newBatch(parentId) {
  const made = {}; // 'parent/name' -> Promise<id>
  const listings = {}; // parent -> Promise<Map name -> id> of its folders
  const once = (cache, key, make) => {
    if (!cache[key]) (cache[key] = make()).catch(() => delete cache[key]); // a retry tries again
    return cache[key];
  };
  const child = (parent, name) => once(made, `${parent}/${name}`, async () => {
    const found = (await once(listings, parent, () => folders(parent))).get(name);
    if (found) return found;
    const folder = await api('/v2/files', { method: 'POST', json: { name, type: 'folder', parentId: parent } });
    listings[folder.id] = Promise.resolve(new Map());
    emit('files-changed', { parentIds: [parent] });
    return folder.id;
  });
  return {
    async folder(path) {
      let id = parentId;
      for (const name of path.split('/').slice(0, -1)) if (name) id = await child(id, name.normalize('NFC'));
      return id;
    },
  };
}

async function folders(parentId) {
  const found = new Map();
  let cursor = '';
  do {
    const page = await api(`/v2/files?${new URLSearchParams({ parentId, limit: 1000, ...(cursor && { cursor }) })}`);
    for (const item of page.items) if (item.type === 'folder') found.set(item.name, item.id);
    cursor = page.next;
  } while (cursor);
  return found;
}
