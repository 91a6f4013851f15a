// Publishing a file (its v1 address then opens without a token) and share
// links (expiry, password, download limit; listed and revoked): actions on an
// item, registered with item_actions.js.
import { api } from './api.js';
import { confirmAction, openDialog } from './dialog.js';
import { clear, h } from './dom.js';
import { emit } from './events.js';
import { humanDate } from './format.js';
import { field } from './forms.js';
import { registerAction } from './item_actions.js';
import { describe } from './messages.js';
import { notify } from './toast.js';

const isFile = (item) => item.type !== 'folder'; // a folder has no content to publish
const EXPIRY = [['1 hour', 3600], ['1 day', 86400], ['7 days', 604800], ['30 days', 2592000]];
const DEFAULT_EXPIRY = 604800;
const COPY_KEYS = /Mac|iP/.test(navigator.platform) ? '⌘C' : 'Ctrl+C';
let ids = 0;

registerAction({ id: 'share-link', label: 'Share link…', order: 60, run: shareDialog });
registerAction({ id: 'publish', label: 'Publish', order: 61, when: (item) => isFile(item) && !item.isPublic,
  run: (item) => setPublic(item, true) });
registerAction({ id: 'unpublish', label: 'Unpublish', order: 61, when: (item) => isFile(item) && item.isPublic,
  run: (item) => setPublic(item, false) });
registerAction({ id: 'public-link', label: 'Public link…', order: 62, when: (item) => isFile(item) && item.isPublic,
  run: publicDialog });

const filePath = (item) => `/v2/files/${encodeURIComponent(item.id)}`;

async function setPublic(item, isPublic) {
  let updated;
  try {
    updated = await api(filePath(item), { method: 'PATCH', json: { isPublic } });
  } catch (error) {
    notify(describe(error), { kind: 'error' });
    return;
  }
  emit('files-changed', { parentIds: [String(updated.parentId)] });
  if (isPublic) publicDialog(updated);
  else notify(`“${updated.name}” is no longer public.`);
}

function publicDialog(item) {
  const { box, input } = urlField('Public address', `${location.origin}/files/${encodeURIComponent(item.id)}/data`);
  openDialog({
    title: `“${item.name}” is public`,
    className: 'share-dialog',
    body: [h('p', { text: 'Anyone with this address can download it without signing in, until you unpublish it.' }), box],
    actions: [{ label: 'Done', value: null, kind: 'primary' }],
  });
  selectSoon(input);
}

/** A labelled read-only field holding `url`, with a Copy button that says (aloud too) what happened. */
function urlField(label, url) {
  const id = `share-url-${++ids}`;
  const input = h('input', { id, class: 'share-url', readonly: true, value: url, spellcheck: 'false',
    onfocus: () => input.select() });
  const status = h('p', { class: 'copy-status', role: 'status' });
  const say = (text) => { status.textContent = ''; requestAnimationFrame(() => { status.textContent = text; }); };
  async function copy() {
    try {
      await navigator.clipboard.writeText(url); // no clipboard API over plain http: the catch
      say('Copied');
    } catch {
      input.focus();
      input.select();
      say(`Press ${COPY_KEYS} to copy`);
    }
  }
  const box = h('div', { class: 'field share-url-field' }, h('label', { for: id, text: label }),
    h('div', { class: 'share-url-row' }, input, h('button', { type: 'button', onclick: copy, text: 'Copy' })), status);
  return { box, input };
}

function selectSoon(input) {
  queueMicrotask(() => { input.focus(); input.select(); });
}

function shareDialog(item) {
  const n = ++ids;
  const linksPath = `${filePath(item)}/links`;
  const expiry = h('select', { id: `link-expiry-${n}` }, EXPIRY.map(([text, seconds]) =>
    h('option', { value: seconds, selected: seconds === DEFAULT_EXPIRY, text })));
  const password = h('input', { id: `link-password-${n}`, type: 'password', autocomplete: 'new-password',
    maxlength: 1024 });
  const limit = h('input', { id: `link-limit-${n}`, type: 'number', min: 1, step: 1, inputmode: 'numeric',
    placeholder: 'No limit' });
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const created = h('div', { class: 'share-created', hidden: true });
  const heading = h('h3', { id: `links-${n}`, tabindex: -1, text: 'Links' });
  const list = h('ul', { class: 'share-links', 'aria-labelledby': heading.id });
  const listStatus = h('p', { class: 'muted', text: 'Loading…' });
  let createdId = null;

  async function create() {
    error.hidden = true;
    const terms = { expiresIn: Number(expiry.value) };
    if (password.value) terms.password = password.value;
    if (limit.value) terms.maxDownloads = Number(limit.value);
    try {
      const link = await api(linksPath, { method: 'POST', json: terms });
      createdId = link.id;
      const { box, input } = urlField('New link', location.origin + link.url);
      clear(created).append(box, h('p', { class: 'hint',
        text: 'Copy it now: only you have it, and it is shown this once.' }));
      created.hidden = false;
      password.value = '';
      selectSoon(input);
      loadLinks();
    } catch (failure) {
      error.textContent = refusal(failure);
      error.hidden = false;
    }
    return false; // the dialog stays open
  }

  async function loadLinks() {
    listStatus.textContent = 'Loading…';
    listStatus.hidden = false;
    try {
      const { items } = await api(linksPath);
      clear(list).append(...items.map(linkRow));
      listStatus.textContent = items.length ? '' : 'No links yet.';
      listStatus.hidden = items.length > 0;
    } catch (failure) {
      listStatus.textContent = describe(failure);
    }
  }

  function linkRow(link) {
    const made = humanDate(link.createdAt);
    const dead = link.active ? null : ended(link);
    const used = link.maxDownloads ? `${link.downloads} of ${link.maxDownloads} downloads`
      : `${link.downloads} download${link.downloads === 1 ? '' : 's'}`;
    return h('li', { class: `share-link${dead ? ' dead' : ''}` },
      h('div', { class: 'share-link-text' },
        h('span', { text: `Made ${made}` }),
        h('span', { text: dead || `Expires ${humanDate(link.expiresAt)}` }),
        h('span', { class: 'share-link-used', text: used })),
      link.hasPassword && h('span', { class: 'share-badge', text: 'password' }),
      !dead && h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke the link made ${made}`,
          onclick: () => revoke(link), text: 'Revoke' }));
  }

  async function revoke(link) {
    const sure = await confirmAction({ title: 'Revoke this link?', confirmLabel: 'Revoke', danger: true,
      message: 'It stops working at once for everyone who has it. This cannot be undone.' });
    if (!sure) return;
    try {
      await api(`/v2/links/${encodeURIComponent(link.id)}`, { method: 'DELETE' });
      if (link.id === createdId) created.hidden = true;
      notify('Link revoked.');
    } catch (failure) {
      notify(describe(failure), { kind: 'error' });
    }
    await loadLinks();
    heading.focus();
  }

  const what = isFile(item) ? 'open this file and download it'
    : 'see what is in this folder (the page lists its items) and download them';
  openDialog({
    title: `Share “${item.name}”`,
    className: 'share-dialog',
    body: [
      h('p', { text: `Anyone with a link can ${what}, until it expires or you revoke it.` }),
      h('div', { class: 'share-terms' }, field('Expires in', expiry), field('Password', password, null, 'optional'),
        field('Download limit', limit, null, 'optional')),
      h('div', { class: 'share-create' }, h('button', { type: 'submit', class: 'primary', text: 'Create link' })),
      error,
      created,
      h('div', { class: 'share-links-head' }, heading,
        h('button', { type: 'button', class: 'link-button', onclick: loadLinks, text: 'Refresh' })),
      h('p', { class: 'hint', text: 'A link is shown only when it is made (the server keeps only a fingerprint of '
        + 'it): copy it when you make it.' }),
      listStatus,
      list,
    ],
    actions: [{ label: 'Done', value: null }],
    onSubmit: create,
  });
  loadLinks();
}

/** The server's words, or for an expiry past its `links.max_expiry` (named in its message) what to do. */
function refusal(failure) {
  const max = failure.status === 400 && /^Invalid expiresIn:.* to (\d+)$/.exec(failure.message);
  if (!max) return describe(failure);
  const seconds = Number(max[1]);
  const [count, unit] = seconds % 86400 === 0 ? [seconds / 86400, 'day'] : seconds % 3600 === 0
    ? [seconds / 3600, 'hour'] : [seconds, 'second'];
  return `Links on this server last at most ${count} ${unit}${count === 1 ? '' : 's'}: choose a shorter time.`;
}

/** Why a link no longer opens. */
function ended(link) {
  if (link.revokedAt) return `Revoked ${humanDate(link.revokedAt)}`;
  if (Date.parse(link.expiresAt) <= Date.now()) return `Expired ${humanDate(link.expiresAt)}`;
  return 'Used up';
}
