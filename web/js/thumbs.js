// Private thumbnails: fetched with the token, shown from blob: URLs, revoked when no longer cached.
import { apiBlob } from './api.js';

const MAX_CACHED = 300;
const MAX_RUNNING = 4;
const cache = new Map(); // key -> Promise<url|null>, oldest first (LRU by re-insertion)
const waiting = [];
let running = 0;

/**
 * A blob: URL of `item`'s thumbnail at `size` (100, 250 or 500), or null (none yet, failed, or
 * `signal` aborted before its turn). Only asks for items with `hasThumbnails`: a missing one is a
 * 404 the browser logs.
 */
export async function thumbnailUrl(item, size = 250, { signal } = {}) {
  if (!item?.hasThumbnails) return null;
  const key = `${item.id}:${size}:${item.updatedAt}`;
  let entry = cache.get(key);
  if (entry) {
    cache.delete(key);
    cache.set(key, entry);
    return entry;
  }
  entry = queued(() => apiBlob(`/v2/files/${encodeURIComponent(item.id)}/content?size=${size}`), signal)
    .then((blob) => (blob ? URL.createObjectURL(blob) : null), () => null);
  cache.set(key, entry);
  entry.then((url) => { if (!url) cache.delete(key); });
  while (cache.size > MAX_CACHED) {
    const [oldest, promise] = cache.entries().next().value;
    cache.delete(oldest);
    promise.then((url) => url && URL.revokeObjectURL(url));
  }
  return entry;
}

// At most MAX_RUNNING fetches at once; a queued fetch whose row has gone is skipped.
function queued(task, signal) {
  return new Promise((resolve, reject) => {
    waiting.push(() => {
      if (signal?.aborted) return Promise.resolve(null).then(resolve);
      return task().then(resolve, reject);
    });
    pump();
  });
}

function pump() {
  while (running < MAX_RUNNING && waiting.length) {
    running += 1;
    waiting.shift()().finally(() => { running -= 1; pump(); });
  }
}
