// The uploads panel: a card at the bottom right (a bottom sheet on a phone),
// a row per file. uploads.js owns the jobs and their states: queued,
// uploading, done, error, cancelled, interrupted.
import { h } from './dom.js';
import { humanDuration, humanSize, humanSpeed } from './format.js';

const section = document.getElementById('uploads');
const WORDS = { queued: 'Waiting', uploading: 'Uploading', done: 'Done', cancelled: 'Cancelled' };
const FINISHED = ['done', 'cancelled', 'error'];
let list;
let summary;
let toggle;
let clearButton;
let actions;

/** handlers: {cancel, retry, resume, discard} of a job, and clear(). */
export function startPanel(handlers) {
  actions = handlers;
  list = h('ul', { class: 'upload-list', id: 'upload-list' });
  summary = h('p', { class: 'uploads-summary', 'aria-live': 'polite' });
  toggle = h('button', { type: 'button', class: 'icon uploads-toggle', 'aria-controls': 'upload-list',
    onclick: () => expand(list.hidden) });
  clearButton = h('button', { type: 'button', class: 'link-button', onclick: handlers.clear, text: 'Clear finished' });
  section.append(h('header', {}, h('div', {}, h('h2', { text: 'Uploads' }), summary), clearButton, toggle), list);
}

function expand(open) {
  list.hidden = !open;
  toggle.setAttribute('aria-expanded', open);
  toggle.setAttribute('aria-label', `${open ? 'Hide' : 'Show'} the list of uploads`);
}

export function addRow(job) {
  const button = (text) => h('button', { type: 'button', 'aria-label': `${text} upload of ${job.path}`, text,
    onclick: () => actions[text.toLowerCase()](job) });
  const span = (name) => h('span', { class: `upload-${name}` });
  const el = {
    row: h('li', { class: 'upload-row' }),
    bar: h('progress', { max: 100, 'aria-label': `Progress of ${job.path}` }),
    status: span('status'), pct: span('pct'), speed: span('speed'), eta: span('eta'),
    cancel: button('Cancel'), retry: button('Retry'), resume: button('Resume'), discard: button('Discard'),
  };
  el.row.append(h('span', { class: 'upload-name', title: job.path, text: job.path }),
    h('span', {}, el.cancel, el.retry, el.resume, el.discard), el.bar,
    h('p', {}, el.status, el.pct, el.speed, el.eta));
  job.el = el;
  list.append(el.row);
  expand(true);
  paintRow(job);
}

export function paintRow(job) {
  const { el, state } = job;
  const pct = job.size ? Math.floor((job.sent / job.size) * 100) : 100;
  const speed = state === 'uploading' ? speedOf(job.samples) : 0;
  const active = document.activeElement;
  el.row.dataset.state = state;
  el.bar.value = state === 'done' ? 100 : pct;
  el.status.textContent = job.error || job.note || WORDS[state] || `Interrupted at ${pct} %`;
  el.pct.textContent = state === 'uploading' ? `${pct} %` : state === 'done' ? humanSize(job.size) : '';
  el.speed.textContent = humanSpeed(speed);
  el.eta.textContent = speed ? `${humanDuration((job.size - job.sent) / speed)} left` : '';
  el.cancel.hidden = state !== 'queued' && state !== 'uploading';
  el.retry.hidden = !(state === 'error' && job.retry);
  el.resume.hidden = el.discard.hidden = state !== 'interrupted';
  // A button that hid itself (Cancel, Retry) hands the focus on rather than dropping it.
  if (active.hidden && el.row.contains(active)) (el.row.querySelector('button:not([hidden])') || toggle).focus();
}

/** Bytes a second over the last few seconds of progress events (not since the start). */
function speedOf(samples = []) {
  const elapsed = performance.now() - samples[0]?.[0];
  return elapsed >= 500 ? ((samples.at(-1)[1] - samples[0][1]) * 1000) / elapsed : 0;
}

export function removeRow(job) {
  if (job.el.row.contains(document.activeElement)) toggle.focus();
  job.el.row.remove();
}

export function paintSummary(jobs) {
  const count = (state) => jobs.filter((job) => job.state === state).length;
  const failed = count('error');
  const interrupted = count('interrupted');
  const text = [`${count('done')} of ${jobs.length - count('cancelled')} uploaded`,
    failed && `${failed} failed`, interrupted && `${interrupted} interrupted`].filter(Boolean).join(' · ');
  if (summary.textContent !== text) summary.textContent = text; // a live region: said when it changes
  clearButton.hidden = !jobs.some((job) => FINISHED.includes(job.state));
  if (clearButton.hidden && document.activeElement === clearButton) toggle.focus();
  if (!jobs.length && section.contains(document.activeElement)) document.getElementById('main').focus();
  section.hidden = !jobs.length;
  document.body.classList.toggle('has-uploads', jobs.length > 0);
}
