// The account page: email, member since, storage, and changing the password.
import { api } from '../api.js';
import { h } from '../dom.js';
import { field, handleSubmit } from '../forms.js';
import { describe } from '../messages.js';
import { refreshUser, usageMeter } from '../quota.js';
import { state } from '../state.js';

const dateOnly = new Intl.DateTimeFormat(undefined, { dateStyle: 'long' });

export function renderAccount(main) {
  const summary = h('dl', { class: 'account-facts', 'aria-busy': 'true' });
  const show = (user) => {
    summary.removeAttribute('aria-busy');
    summary.replaceChildren(
      fact('Email', user.email),
      fact('Member since', dateOnly.format(new Date(user.createdAt))),
      fact('Storage', usageMeter(user)));
    username.defaultValue = user.email; // the attribute: form.reset() keeps it
  };
  // For password managers: which account this new password belongs to.
  const username = h('input', { type: 'email', name: 'username', autocomplete: 'username', hidden: true, readonly: true });
  if (state.user) show(state.user);
  refreshUser().then(show, (error) => {
    summary.removeAttribute('aria-busy');
    summary.replaceChildren(h('p', { class: 'form-error', role: 'alert', text: describe(error) }));
  });

  main.append(h('div', { class: 'account-page' },
    h('h1', { text: 'Account' }),
    h('section', { class: 'card', 'aria-label': 'Your account' }, summary),
    passwordCard(username)));
}

function fact(term, value) {
  return h('div', {}, h('dt', { text: term }), h('dd', {}, value));
}

function passwordCard(username) {
  const secret = (props) => h('input', { type: 'password', required: true, maxlength: 1024, ...props });
  const current = secret({ name: 'currentPassword', autocomplete: 'current-password' });
  const fresh = secret({ name: 'newPassword', autocomplete: 'new-password', minlength: 8 });
  const repeat = secret({ name: 'repeatPassword', autocomplete: 'new-password', minlength: 8 });
  const form = h('form', { class: 'password-form' },
    username,
    field('Current password', current),
    field('New password', fresh, 'At least 8 characters.'),
    field('Repeat new password', repeat),
    h('button', { type: 'submit', class: 'primary', text: 'Change password' }));
  repeat.addEventListener('input', () => repeat.removeAttribute('aria-invalid'));
  const { say } = handleSubmit(form, async () => {
    if (fresh.value !== repeat.value) {
      repeat.setAttribute('aria-invalid', 'true');
      repeat.focus();
      throw new Error('The new passwords do not match.');
    }
    await api('/v2/users/me/password', { method: 'PUT', json: { currentPassword: current.value, newPassword: fresh.value } });
    form.reset();
    say('Password changed. You stay logged in here; every other session of yours has been logged out.');
  }, (error) => {
    if (error.status !== 403) return describe(error);
    current.select();
    return 'The current password is wrong.';
  });
  return h('section', { class: 'card', 'aria-labelledby': 'password-title' },
    h('h2', { id: 'password-title', text: 'Change password' }), form);
}
