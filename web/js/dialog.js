// Modal dialogs on the native <dialog>: the browser traps focus, Escape
// closes, and focus returns to what opened it.
import { h } from './dom.js';

/**
 * openDialog({title, body: Node|Node[], actions: [{label, value, kind, submit}], onSubmit, className})
 * -> {dialog, form, close(value), result: Promise<value|null>}.
 * An action with `submit: true` submits the form: `onSubmit(form)` runs first and may return false
 * (or throw / reject: its message is shown) to keep the dialog open; otherwise the result is its value.
 */
export function openDialog({ title, body = [], actions = [{ label: 'Close', value: null }], onSubmit, className = '' }) {
  const titleId = `dialog-title-${++counter}`;
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const form = h('form', { method: 'dialog', novalidate: false },
    h('h2', { id: titleId, text: title }),
    h('div', { class: 'dialog-body' }, body),
    error,
    h('div', { class: 'dialog-actions' }, actions.map((action) => h('button', {
      type: action.submit ? 'submit' : 'button',
      class: action.kind || null,
      value: action.value ?? '',
      onclick: action.submit ? null : () => close(action.value ?? null),
      text: action.label,
    }))));
  const dialog = h('dialog', { class: `dialog ${className}`, 'aria-labelledby': titleId }, form);
  let settle;
  const result = new Promise((resolve) => { settle = resolve; });
  let value = null;
  function close(v = null) {
    value = v;
    dialog.close();
  }
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const submitter = event.submitter;
    const submitValue = actions.find((a) => a.submit)?.value ?? true;
    error.hidden = true;
    if (onSubmit) {
      if (submitter) submitter.disabled = true;
      try {
        const outcome = await onSubmit(form);
        if (outcome === false) return;
        close(outcome === undefined ? submitValue : outcome);
      } catch (failure) {
        error.textContent = failure.message || String(failure);
        error.hidden = false;
      } finally {
        if (submitter) submitter.disabled = false;
      }
    } else {
      close(submitValue);
    }
  });
  dialog.addEventListener('close', () => {
    dialog.remove();
    settle(value);
  });
  document.body.append(dialog);
  dialog.showModal();
  return { dialog, form, close, result, showError(message) { error.textContent = message; error.hidden = false; } };
}
let counter = 0;

/** Resolves true when confirmed. */
export async function confirmAction({ title, message, confirmLabel = 'OK', danger = false }) {
  const { result } = openDialog({
    title,
    body: h('p', { text: message }),
    actions: [{ label: 'Cancel', value: false }, { label: confirmLabel, value: true, kind: danger ? 'danger primary' : 'primary', submit: true }],
  });
  return (await result) === true;
}

/**
 * Asks for one line of text; `submit(value)` does the work (its thrown message is shown in the
 * dialog, which stays open). Resolves what `submit` returned, or null when cancelled.
 * `selectEnd`: select the value up to there (a file name without its extension), not all of it.
 */
export async function promptText({ title, label, value = '', confirmLabel = 'OK', submit, maxlength = 255, selectEnd }) {
  const id = `prompt-${++counter}`;
  const input = h('input', { id, name: 'value', required: true, maxlength, value, autocomplete: 'off' });
  const { result } = openDialog({
    title,
    body: h('div', { class: 'field' }, h('label', { for: id, text: label }), input),
    actions: [{ label: 'Cancel', value: null }, { label: confirmLabel, value: 'ok', kind: 'primary', submit: true }],
    onSubmit: async () => (submit ? submit(input.value) : input.value),
  });
  queueMicrotask(() => { input.focus(); input.setSelectionRange(0, selectEnd ?? value.length); });
  return result;
}
