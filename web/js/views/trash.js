// The trash: restore, delete for good, empty.
import { h } from '../dom.js';

export function renderTrash(main) {
  main.append(h('h1', { text: 'Trash' }));
}
