// Hash routes (#/files/12, #/trash, #/search?q=cat, #/login): one page, no
// server routes to keep in step, and the back button works.

/** {name, params, query} of the current hash. */
export function current() {
  const raw = location.hash.replace(/^#\/?/, '');
  const [path, search = ''] = raw.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const query = Object.fromEntries(new URLSearchParams(search));
  return { name: parts[0] || '', params: parts.slice(1), query };
}

export function go(hash) {
  if (location.hash === hash) window.dispatchEvent(new HashChangeEvent('hashchange'));
  else location.hash = hash;
}

export function folderHash(folderId) {
  return `#/files/${encodeURIComponent(folderId)}`;
}

export function onRouteChange(listener) {
  window.addEventListener('hashchange', () => listener(current()));
}
