// A folder's items (list or grid, sorted, scrolled endlessly) and search results.
import { h } from '../dom.js';
import { state } from '../state.js';

export function renderFolder(main, route) {
  state.folderId = route.params[0] || '0';
  main.append(h('h1', { text: 'My files' }));
}

export function renderSearch(main, route) {
  main.append(h('h1', { text: `Search: ${route.query.q || ''}` }));
}
