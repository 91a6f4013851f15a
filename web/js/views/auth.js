// Sign up, log in, log out. (issue 13: auth helper fills this in)
import { h } from '../dom.js';
import { setToken } from '../session.js';
import { emit } from '../events.js';

export function renderLogin(main) {
  main.append(h('h1', { text: 'Log in' }));
}

export function renderSignup(main) {
  main.append(h('h1', { text: 'Sign up' }));
}

export async function logOut() {
  setToken(null);
  emit('signed-out');
}
