// Sign up, log in, log out. The token goes to session.js; main.js routes on
// 'signed-in' / 'signed-out'.
import { api, authHeaders } from '../api.js';
import { h } from '../dom.js';
import { emit } from '../events.js';
import { field, handleSubmit } from '../forms.js';
import { describe } from '../messages.js';
import { setToken } from '../session.js';
import { notify } from '../toast.js';

export function renderLogin(main) {
  authPage(main, {
    title: 'Log in',
    lead: 'Welcome back.',
    // Accounts made on v1 may have an address the browser's email check refuses: the server decides.
    emailProps: { type: 'text', inputmode: 'email', maxlength: 320 },
    passwordProps: { autocomplete: 'current-password' },
    switchTo: ['No account yet? ', h('a', { href: '#/signup', text: 'Sign up' })],
    send: ({ email, password }) => logIn(email.value, password.value),
    explain: (error) => {
      if (error.code === 'account_disabled') return 'This account is disabled: ask the operator.';
      return error.status === 401 ? 'Wrong email or password.' : describe(error);
    },
  });
}

export function renderSignup(main) {
  authPage(main, {
    title: 'Sign up',
    lead: 'Make an account to keep your files here.',
    emailProps: { type: 'email', maxlength: 254 },
    passwordProps: { autocomplete: 'new-password', minlength: 8, maxlength: 1024 },
    passwordHint: 'At least 8 characters.',
    switchTo: ['Already have an account? ', h('a', { href: '#/login', text: 'Log in' })],
    async send({ email, password }) {
      await api('/v2/users', { method: 'POST', json: { email: email.value, password: password.value }, auth: false });
      try {
        await logIn(email.value, password.value);
      } catch (error) {
        throw new Error(`Your account was made, but logging in failed: ${describe(error)}`);
      }
    },
    explain(error) {
      if (error.status === 409) return 'An account with this email already exists.';
      if (error.status === 403) return 'Sign-up is closed on this server.';
      return describe(error);
    },
  });
}

function authPage(main, { title, lead, emailProps, passwordProps, passwordHint, switchTo, send, explain }) {
  const email = h('input', { name: 'email', required: true, autocomplete: 'username', autocapitalize: 'none',
    spellcheck: 'false', autofocus: true, ...emailProps });
  const password = h('input', { name: 'password', type: 'password', required: true, ...passwordProps });
  const form = h('form', { class: 'auth-form' },
    field('Email', email),
    field('Password', password, passwordHint),
    h('button', { type: 'submit', class: 'primary', text: title }));
  handleSubmit(form, send, (error) => {
    if (error.status === 401) password.select();
    return explain(error);
  });
  main.append(h('section', { class: 'auth-card card', 'aria-labelledby': 'auth-title' },
    h('h1', { id: 'auth-title', text: title }),
    h('p', { class: 'muted', text: lead }),
    form,
    h('p', { class: 'auth-switch' }, switchTo)));
  email.focus(); // `autofocus` only acts on the first page load; views come and go
}

async function logIn(email, password) {
  const { token } = await api('/v2/sessions', { method: 'POST', json: { email, password }, auth: false });
  setToken(token);
  emit('signed-in');
}

let leaving = null;

/** Ends the session on the server, and here whatever the server said: the token must not outlive the click. */
export function logOut() {
  leaving ||= (async () => {
    try {
      // Not through api()'s own 401 handling: that would sign out a second time.
      await api('/v2/sessions/current', { method: 'DELETE', auth: false, headers: authHeaders() });
    } catch (error) {
      if (error.status !== 401) {
        notify('Logged out in this tab, but the server could not be told: the session ends when it expires.', { kind: 'error' });
      }
    } finally {
      setToken(null);
      leaving = null;
      emit('signed-out');
    }
  })();
  return leaving;
}
