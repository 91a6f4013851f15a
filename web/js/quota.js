// The quota bar in the top bar, on every page; refetched when usage may have changed.
import { api } from './api.js';
import { clear, h } from './dom.js';
import { on } from './events.js';
import { humanSize } from './format.js';
import { describe } from './messages.js';
import { token } from './session.js';
import { state } from './state.js';

const WARN_ABOVE = 0.9;
let latest = 0; // the newest fetch: an older answer (or one from before a sign-out) is dropped
let timer = null;

export function startQuota() {
  const box = document.getElementById('quota');
  const load = () => refreshUser().catch((error) => {
    if (token()) box.replaceChildren(h('span', { class: 'usage-unknown', title: describe(error), text: 'Usage unknown' }));
  });
  on('signed-in', load);
  on('signed-out', () => {
    latest += 1;
    clearTimeout(timer);
    clear(box);
  });
  on('usage-changed', () => {
    clearTimeout(timer);
    timer = setTimeout(load, 300); // an upload of many files is one fetch, not one per file
  });
  if (token()) load();
}

/** GET /v2/users/me into `state.user` and the top bar; resolves the user, throws ApiError. */
export async function refreshUser() {
  const mine = ++latest;
  const user = await api('/v2/users/me');
  if (mine === latest) {
    state.user = user;
    document.getElementById('quota').replaceChildren(usageMeter(user));
  }
  return user;
}

/** "1.2 MB of 10 MB", or "1.2 MB used" with no quota. */
export function usageText({ usedBytes, quotaBytes }) {
  return quotaBytes === null ? `${humanSize(usedBytes)} used` : `${humanSize(usedBytes)} of ${humanSize(quotaBytes)}`;
}

/** The bar (when there is a quota) and the text; `.warn` above 90 %. */
export function usageMeter(user) {
  const { usedBytes: used, quotaBytes: quota } = user;
  const warn = quota !== null && used > quota * WARN_ABOVE;
  return h('div', { class: `usage${warn ? ' warn' : ''}` },
    quota === null ? null : h('progress', { max: Math.max(quota, 1), value: Math.min(used, quota), 'aria-label': 'Storage used' }),
    h('span', { class: 'usage-text', text: usageText(user) }),
    warn ? h('span', { class: 'visually-hidden', text: ' (almost full)' }) : null);
}
