// The account page: email, usage, change the password.
import { h } from '../dom.js';

export function renderAccount(main) {
  main.append(h('h1', { text: 'Account' }));
}
