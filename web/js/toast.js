// Short messages at the bottom of the screen, read out by screen readers
// (the container is an aria-live region). Errors stay until closed.
import { h } from './dom.js';

/** `action: {label, run}` adds a button (e.g. Undo) that runs and closes the toast. */
export function notify(message, { kind = 'info', timeout = 5000, action } = {}) {
  const box = document.getElementById('toasts');
  const close = () => toast.remove();
  const toast = h('div', { class: `toast ${kind}` },
    h('span', { class: 'toast-text', text: message }),
    action && h('button', { type: 'button', onclick: () => { close(); action.run(); }, text: action.label }),
    h('button', { type: 'button', 'aria-label': 'Dismiss', onclick: close, text: '×' }));
  box.append(toast);
  if (kind !== 'error') {
    const timer = setTimeout(close, action ? Math.max(timeout, 10000) : timeout);
    toast.addEventListener('focusin', () => clearTimeout(timer)); // a keyboard user reaching Undo keeps it
  }
  return close;
}
