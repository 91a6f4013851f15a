// Form pieces the screens share: a labelled field, and a submit that
// disables its button while the request runs and shows any failure on the form.
import { h } from './dom.js';
import { describe } from './messages.js';

let count = 0;

/**
 * A `.field`: the label, `input` (an element; given an id if it has none) and an optional hint it is
 * described by; `aside` is a short note kept in the label itself ("optional").
 */
export function field(label, input, hint, aside) {
  input.id ||= `field-${++count}`;
  const note = hint ? h('span', { class: 'hint', id: `${input.id}-hint`, text: hint }) : null;
  if (note) input.setAttribute('aria-describedby', note.id);
  return h('div', { class: 'field' },
    h('label', { for: input.id }, label, aside && h('span', { class: 'hint', text: ` (${aside})` })), input, note);
}

/**
 * On submit, runs `submit(form.elements)` once at a time. A thrown error shows on the form as
 * `explain(error)` (default `describe`: a plain Error's message, or the sentence for an ApiError).
 * Returns `{ say(text) }` to show a success message in the same place.
 */
export function handleSubmit(form, submit, explain = describe) {
  const error = h('p', { class: 'form-error', role: 'alert', hidden: true });
  const done = h('p', { class: 'form-ok', role: 'status' });
  const button = form.querySelector('button[type=submit]');
  button.before(error, done);
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    form.setAttribute('aria-busy', 'true');
    error.hidden = true;
    done.textContent = '';
    try {
      await submit(form.elements);
    } catch (failure) {
      error.textContent = explain(failure);
      error.hidden = false;
    } finally {
      button.disabled = false;
      form.removeAttribute('aria-busy');
    }
  });
  return { say(text) { done.textContent = text; } };
}
