// Downloads with the token: the content is fetched as a Blob and saved through
// a blob: link, so the token never goes into a URL. Big files show their
// progress in a toast, with Cancel.
import { apiBlob } from './api.js';
import { h } from './dom.js';
import { describe } from './messages.js';
import { notify } from './toast.js';

const BIG = 2_000_000; // bytes: below this a download is over before a bar could be read

export async function download(item) {
  const controller = new AbortController();
  let toast = null;
  let bar = null;
  if (item.size >= BIG) {
    bar = h('progress', { max: item.size, value: 0, 'aria-label': 'Downloaded' });
    toast = h('div', { class: 'toast download-toast' },
      h('span', { class: 'toast-text', text: `Downloading “${item.name}”` }), bar,
      h('button', { type: 'button', onclick: () => controller.abort(), text: 'Cancel' }));
    document.getElementById('toasts').append(toast);
  }
  try {
    const blob = await apiBlob(`/v2/files/${encodeURIComponent(item.id)}/content?download=1`, {
      signal: controller.signal,
      onProgress: bar && ((received, total) => { bar.max = total || item.size; bar.value = received; }),
    });
    save(blob, item.name);
  } catch (error) {
    if (error.name !== 'AbortError') notify(`Could not download “${item.name}”: ${describe(error)}`, { kind: 'error' });
  } finally {
    toast?.remove();
  }
}

/** Hands `blob` to the browser as a download named `name`. */
export function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = h('a', { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0); // after the click's navigation has taken the blob
}
