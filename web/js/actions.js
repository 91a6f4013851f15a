// File and folder actions: open/preview, download, rename, move, trash.
// Registers them with item_actions.js.
import { api } from './api.js';
import { promptText } from './dialog.js';
import { download } from './download.js';
import { emit } from './events.js';
import { registerAction } from './item_actions.js';
import { describe } from './messages.js';
import { chooseDestination } from './moves.js';
import { showPreview } from './preview.js';
import { folderHash, go } from './router.js';
import { notify } from './toast.js';

const path = (item) => `/v2/files/${encodeURIComponent(item.id)}`;
const changed = (...parentIds) => emit('files-changed', { parentIds: parentIds.map(String) });

/** `siblings`: the items listed with it, for Previous/Next in the preview. */
function open(item, siblings) {
  if (item.type === 'folder') go(folderHash(item.id));
  else if (item.type === 'image') showPreview(item, siblings);
  else download(item);
}

function rename(item) {
  const dot = item.type === 'folder' ? -1 : item.name.lastIndexOf('.');
  return promptText({
    title: `Rename “${item.name}”`,
    label: 'Name',
    value: item.name,
    selectEnd: dot > 0 ? dot : undefined,
    confirmLabel: 'Rename',
    submit: async (name) => {
      if (name === item.name) return true;
      try {
        await api(path(item), { method: 'PATCH', json: { name } });
      } catch (error) {
        throw new Error(describe(error));
      }
      changed(item.parentId);
      return true;
    },
  });
}

async function trash(item) {
  try {
    await api(path(item), { method: 'DELETE' });
  } catch (error) {
    notify(`Could not delete “${item.name}”: ${describe(error)}`, { kind: 'error' });
    return;
  }
  changed(item.parentId);
  notify(`Moved “${item.name}” to the trash`, { action: { label: 'Undo', run: () => restore(item) } });
}

/** Back where it was (or to the root if that folder is gone); the restored document or null. */
export async function restore(item) {
  try {
    const restored = await api(`${path(item)}/restore`, { method: 'POST' });
    changed(restored.parentId);
    return restored;
  } catch (error) {
    notify(`Could not restore “${item.name}”: ${describe(error)}`, { kind: 'error' });
    return null;
  }
}

registerAction({ id: 'open', label: 'Open', order: 10, run: open });
registerAction({ id: 'download', label: 'Download', order: 20, when: (item) => item.type !== 'folder', run: download });
registerAction({ id: 'rename', label: 'Rename', key: 'F2', order: 30, run: rename });
registerAction({ id: 'move', label: 'Move to…', order: 40, run: (item) => chooseDestination([item]) });
registerAction({ id: 'trash', label: 'Delete', key: 'Delete', order: 90, danger: true, run: trash });
