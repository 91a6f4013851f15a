// The trash: restore, delete for good, empty.
import { restore } from '../actions.js';
import { api } from '../api.js';
import { confirmAction } from '../dialog.js';
import { h, icon } from '../dom.js';
import { emit, on } from '../events.js';
import { humanDate, humanSize } from '../format.js';
import { describe } from '../messages.js';
import { folderHash, go } from '../router.js';
import { notify } from '../toast.js';

export function renderTrash(main) {
  const controller = new AbortController();
  const heading = h('h1', { text: 'Trash', tabindex: '-1' });
  const list = h('ul', { class: 'trash-list', 'aria-label': 'Deleted items' });
  const status = h('p', { class: 'muted', role: 'status', text: 'Loading…' });
  const more = h('button', { type: 'button', hidden: true, text: 'Show more', onclick: () => load(next) });
  const emptyButton = h('button', { type: 'button', class: 'danger', hidden: true, text: 'Empty trash', onclick: emptyTrash });
  let next = null;
  let restoring = 0; // our own restores change files too: no need to reload for those
  main.append(h('div', { class: 'trash-head' }, heading, emptyButton),
    h('p', { class: 'muted', text: 'Restore puts an item back where it was. Delete for good cannot be undone.' }),
    list, status, more);

  async function load(cursor) {
    more.disabled = true;
    try {
      const page = await api(`/v2/trash?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        { signal: controller.signal });
      if (!cursor) list.replaceChildren();
      list.append(...page.items.map(row));
      next = page.next;
      more.hidden = !next;
      settle();
    } catch (error) {
      if (error.name !== 'AbortError') status.textContent = describe(error);
    } finally {
      more.disabled = false;
    }
  }

  function settle() {
    const none = !list.children.length;
    status.textContent = none ? 'The trash is empty.' : '';
    emptyButton.hidden = none;
  }

  /** Takes `li` out and puts focus on what follows it (or the heading). */
  function drop(li) {
    const after = li.nextElementSibling || li.previousElementSibling;
    li.remove();
    (after?.querySelector('button') || heading).focus();
    settle();
  }

  function row(item) {
    const kind = item.type === 'folder' ? 'Folder' : humanSize(item.size);
    const li = h('li', { class: 'trash-row' },
      icon(item.type === 'folder' ? 'folder' : item.type),
      h('div', { class: 'trash-info' },
        h('span', { class: 'trash-name', text: item.name }),
        h('span', { class: 'muted', text: `${kind} · Deleted ${humanDate(item.trashedAt)}` })),
      h('div', { class: 'trash-buttons' },
        h('button', { type: 'button', text: 'Restore', 'aria-label': `Restore “${item.name}”`, onclick: back }),
        h('button', { type: 'button', class: 'danger', text: 'Delete for good',
          'aria-label': `Delete for good “${item.name}”`, onclick: purge })));

    async function back() {
      restoring += 1;
      const restored = await restore(item);
      restoring -= 1;
      if (!restored) return;
      drop(li);
      notify(`Restored “${item.name}”`, { action: { label: 'Show', run: () => go(folderHash(restored.parentId)) } });
    }

    async function purge() {
      const sure = await confirmAction({ title: 'Delete for good?', confirmLabel: 'Delete for good', danger: true,
        message: `“${item.name}” will be deleted for good. This cannot be undone.` });
      if (!sure) return;
      try {
        await api(`/v2/files/${encodeURIComponent(item.id)}?permanent=true`, { method: 'DELETE' });
      } catch (error) {
        notify(`Could not delete “${item.name}”: ${describe(error)}`, { kind: 'error' });
        return;
      }
      drop(li);
      emit('usage-changed');
    }
    return li;
  }

  async function emptyTrash() {
    const sure = await confirmAction({ title: 'Empty the trash?', confirmLabel: 'Empty trash', danger: true,
      message: 'Everything in the trash will be deleted for good. This cannot be undone.' });
    if (!sure) return;
    try {
      await api('/v2/trash', { method: 'DELETE' });
    } catch (error) {
      notify(`Could not empty the trash: ${describe(error)}`, { kind: 'error' });
      return;
    }
    list.replaceChildren();
    more.hidden = true;
    settle();
    heading.focus();
    emit('usage-changed');
  }

  load(null);
  // Something restored from elsewhere (an Undo toast): show the trash as it is now.
  const stop = on('files-changed', () => { if (!restoring) load(null); });
  return () => { stop(); controller.abort(); };
}
