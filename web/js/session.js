// The token lives in sessionStorage: it is never sent by the browser on its own
// (so no request can be forged from another site), it ends with the tab, and it
// survives a reload (so an upload resumes). It never goes into a URL.
const KEY = 'files-manager.token';

export function token() {
  return sessionStorage.getItem(KEY);
}

export function setToken(value) {
  if (value) sessionStorage.setItem(KEY, value);
  else sessionStorage.removeItem(KEY);
}
