// Short messages at the bottom of the screen, read out by screen readers
// (the container is an aria-live region). Errors stay until closed.
import { h } from './dom.js';

export function notify(message, { kind = 'info', timeout = 5000 } = {}) {
  const box = document.getElementById('toasts');
  const close = () => toast.remove();
  const toast = h('div', { class: `toast ${kind}` },
    h('span', { class: 'toast-text', text: message }),
    h('button', { type: 'button', 'aria-label': 'Dismiss', onclick: close, text: '×' }));
  box.append(toast);
  if (kind !== 'error') setTimeout(close, timeout);
  return close;
}
