// The app's few cross-module signals, so modules need not import each other:
//   'signed-in' / 'signed-out'         the session changed
//   'files-changed' {parentIds?: []}   items were added, changed or removed (refresh those folders; none: all)
//   'usage-changed'                    bytes used may have changed (the quota bar refetches)
const bus = new EventTarget();

export function on(name, listener) {
  const wrapped = (event) => listener(event.detail);
  bus.addEventListener(name, wrapped);
  return () => bus.removeEventListener(name, wrapped);
}

export function emit(name, detail = {}) {
  bus.dispatchEvent(new CustomEvent(name, { detail }));
}
