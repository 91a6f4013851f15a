// Moving files and folders: into a folder dropped on, or chosen in the "Move to" dialog.
import { api } from './api.js';
import { openDialog } from './dialog.js';
import { h, icon } from './dom.js';
import { emit } from './events.js';
import { describe } from './messages.js';
import { notify } from './toast.js';

/**
 * Move `items` (v2 documents) into folder `targetId` ('0' = the root); reports and refreshes.
 * `targetName` saves a request when the caller knows it. `quiet`: failures are not shown
 * (the caller shows them). Resolves {moved: [documents], failed: [{item, error}]}.
 */
export async function moveTo(items, targetId, { targetName, quiet = false } = {}) {
  targetId = String(targetId);
  const moved = [];
  const failed = [];
  for (const item of items) {
    try {
      moved.push(await api(`/v2/files/${encodeURIComponent(item.id)}`, { method: 'PATCH', json: { parentId: targetId } }));
    } catch (error) {
      failed.push({ item, error });
    }
  }
  if (moved.length) {
    emit('files-changed', { parentIds: [...new Set([targetId, ...items.map((item) => String(item.parentId))])] });
    const where = targetName ?? await folderName(targetId);
    const what = moved.length === 1 ? `“${moved[0].name}”` : `${moved.length} items`;
    notify(where ? `Moved ${what} to “${where}”` : `Moved ${what}`);
  }
  if (!quiet) {
    for (const { item, error } of failed) notify(`Could not move “${item.name}”: ${describe(error)}`, { kind: 'error' });
  }
  return { moved, failed };
}

export async function folderName(id) {
  if (id === '0') return 'My files';
  try {
    return (await api(`/v2/files/${encodeURIComponent(id)}`)).name;
  } catch {
    return null;
  }
}

/** The "Move to" dialog: browse from the root down and move `items` into the folder shown. */
export function chooseDestination(items) {
  const moving = new Set(items.map((item) => String(item.id)));
  let trail = [{ id: '0', name: 'My files' }];
  let controller = null;
  const crumbs = h('ol', { class: 'crumbs' });
  const list = h('ul', { class: 'move-list', 'aria-label': 'Folders' });
  const status = h('p', { class: 'muted', role: 'status' });
  const { form, result } = openDialog({
    title: items.length === 1 ? `Move “${items[0].name}”` : `Move ${items.length} items`,
    className: 'move-dialog',
    body: [h('nav', { 'aria-label': 'Folder path' }, crumbs), list, status],
    actions: [{ label: 'Cancel', value: null }, { label: 'Move here', value: 'moved', kind: 'primary', submit: true }],
    onSubmit: async () => {
      const here = trail.at(-1);
      const { failed } = await moveTo(items, here.id, { targetName: here.name, quiet: true });
      if (failed.length) throw new Error(describe(failed[0].error));
    },
  });
  const moveHere = form.querySelector('button[type=submit]');
  result.then(() => controller?.abort());

  async function enter(path) {
    trail = path;
    controller?.abort();
    controller = new AbortController();
    const here = trail.at(-1);
    crumbs.replaceChildren(...trail.map((folder, i) => h('li', {}, i === trail.length - 1
      ? h('span', { 'aria-current': 'location', text: folder.name })
      : h('button', { type: 'button', class: 'link-button', onclick: () => enter(trail.slice(0, i + 1)), text: folder.name }))));
    const already = items.every((item) => String(item.parentId) === here.id);
    moveHere.disabled = true;
    list.replaceChildren();
    status.textContent = 'Loading…';
    const folders = [];
    try {
      let cursor = '';
      do { // sorted by name, folders come first: stop at the first file
        const page = await api(`/v2/files?parentId=${encodeURIComponent(here.id)}&sort=name&limit=500${cursor}`,
          { signal: controller.signal });
        const found = page.items.filter((item) => item.type === 'folder');
        folders.push(...found);
        cursor = found.length === page.items.length && page.next ? `&cursor=${encodeURIComponent(page.next)}` : '';
      } while (cursor);
    } catch (error) {
      if (error.name !== 'AbortError') status.textContent = describe(error);
      return;
    }
    list.replaceChildren(...folders.map((folder) => {
      const self = moving.has(String(folder.id));
      return h('li', {}, h('button', {
        type: 'button', disabled: self, onclick: () => enter([...trail, { id: String(folder.id), name: folder.name }]),
      }, icon('folder'), h('span', { text: self ? `${folder.name} (being moved)` : folder.name })));
    }));
    status.textContent = [folders.length ? '' : 'No folders here.', already ? 'Already in this folder.' : '']
      .filter(Boolean).join(' ');
    moveHere.disabled = already;
    (list.querySelector('button:enabled') || (already ? form.querySelector('.dialog-actions button') : moveHere)).focus();
  }
  enter(trail);
  return result;
}
