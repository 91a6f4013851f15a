// The app's composition root: routes to views, keeps the frame (sidebar,
// search, quota, account) in step with the session.
import { api } from './api.js';
import { clear } from './dom.js';
import { emit, on } from './events.js';
import { describe } from './messages.js';
import { startQuota } from './quota.js';
import { current, go, onRouteChange } from './router.js';
import { setToken, token } from './session.js';
import { state } from './state.js';
import { notify } from './toast.js';
import { startUploads } from './uploads.js';
import { renderAccount } from './views/account.js';
import { logOut, renderLogin, renderSignup } from './views/auth.js';
import { renderFolder, renderSearch } from './views/files.js';
import { renderTrash } from './views/trash.js';
import './actions.js';
import './sharing.js';

const VIEWS = {
  login: { render: renderLogin, title: 'Log in', signedOut: true },
  signup: { render: renderSignup, title: 'Sign up', signedOut: true },
  files: { render: renderFolder, title: 'Files', place: 'files' },
  search: { render: renderSearch, title: 'Search', place: 'files' },
  trash: { render: renderTrash, title: 'Trash', place: 'trash' },
  account: { render: renderAccount, title: 'Account' },
};

const main = document.getElementById('main');
let cleanup = null;
let firstView = true;

async function show(route) {
  const signedIn = Boolean(token());
  const view = VIEWS[route.name];
  if (!view) return go(signedIn ? '#/files/0' : '#/login');
  if (view.signedOut && signedIn) return go('#/files/0');
  if (!view.signedOut && !signedIn) return go('#/login');
  if (cleanup) cleanup();
  cleanup = null;
  document.body.classList.toggle('signed-out', !signedIn);
  document.body.classList.toggle('signed-in', signedIn);
  for (const link of document.querySelectorAll('.sidebar a')) {
    if (link.dataset.place === view.place) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  document.title = `${view.title} · Files`;
  clear(main);
  if (!firstView) main.focus({ preventScroll: true });
  firstView = false;
  try {
    cleanup = (await view.render(main, route)) || null;
  } catch (error) {
    if (error.name !== 'AbortError') notify(describe(error), { kind: 'error' });
  }
}

on('signed-in', () => go('#/files/0'));
on('signed-out', ({ expired } = {}) => {
  state.user = null;
  for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
  if (expired) notify('Your session has ended. Please log in again.', { kind: 'error' });
  go('#/login');
});

document.getElementById('logout-button').addEventListener('click', () => logOut());
document.getElementById('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const q = event.target.elements.q.value.trim();
  go(q ? `#/search?q=${encodeURIComponent(q)}` : '#/files/0');
});

onRouteChange(show);
startQuota();
startUploads();
show(current());
export { api, emit, setToken };
