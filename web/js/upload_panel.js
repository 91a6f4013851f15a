// The uploads panel: a card at the bottom right (a bottom sheet on a phone),
// one row per file. It shows jobs; uploads.js owns them and their states:
// queued, uploading, done, error, cancelled, interrupted.
import { h } from './dom.js';
import { humanDuration, humanSize, humanSpeed } from './format.js';

const section = document.getElementById('uploads');
let list;
let summary;
let toggle;
let clearButton;
let actions;

const WORDS = { queued: 'Waiting', uploading: 'Uploading', done: 'Done', cancelled: 'Cancelled' };

/** actions: {cancel, retry, resume, discard, clear}, each given a job (clear: nothing). */
export function startPanel(handlers) {
  actions = handlers;
  list = h('ul', { class: 'upload-list', id: 'upload-list' });
  summary = h('p', { class: 'uploads-summary', 'aria-live': 'polite' });
  toggle = h('button', { type: 'button', class: 'icon uploads-toggle', 'aria-controls': 'upload-list',
    'aria-expanded': 'true', 'aria-label': 'Hide the list of uploads', onclick: () => expand(list.hidden) });
  clearButton = h('button', { type: 'button', class: 'link-button', onclick: () => actions.clear(), text: 'Clear finished' });
  section.append(h('header', { class: 'uploads-head' }, h('div', {}, h('h2', { text: 'Uploads' }), summary),
    clearButton, toggle), list);
}

function expand(open) {
  list.hidden = !open;
  toggle.setAttribute('aria-expanded', String(open));
  toggle.setAttribute('aria-label', open ? 'Hide the list of uploads' : 'Show the list of uploads');
}

export function addRow(job) {
  const name = job.path;
  const button = (text, run) => h('button', { type: 'button', 'aria-label': `${text} upload of ${name}`,
    onclick: () => run(job), text });
  job.el = {
    row: h('li', { class: 'upload-row' }),
    bar: h('progress', { class: 'upload-bar', max: '100', value: '0', 'aria-label': `Progress of ${name}` }),
    status: h('span', { class: 'upload-status' }),
    pct: h('span', { class: 'upload-pct' }),
    speed: h('span', { class: 'upload-speed' }),
    eta: h('span', { class: 'upload-eta' }),
    cancel: button('Cancel', actions.cancel),
    retry: button('Retry', actions.retry),
    resume: button('Resume', actions.resume),
    discard: button('Discard', actions.discard),
  };
  const el = job.el;
  el.row.append(h('span', { class: 'upload-name', title: name, text: name }),
    h('span', { class: 'upload-actions' }, el.cancel, el.retry, el.resume, el.discard),
    el.bar, h('p', { class: 'upload-info' }, el.status, el.pct, el.speed, el.eta));
  list.append(el.row);
  section.hidden = false;
  document.body.classList.add('has-uploads');
  expand(true);
  paintRow(job);
}

export function paintRow(job) {
  const { el, state } = job;
  const pct = job.size ? Math.floor((job.sent / job.size) * 100) : 100;
  el.row.dataset.state = state;
  el.bar.value = state === 'done' ? 100 : pct;
  el.status.textContent = job.error || job.note || WORDS[state] || `Interrupted at ${pct} %`;
  el.pct.textContent = state === 'uploading' ? `${pct} %` : state === 'done' ? humanSize(job.size) : '';
  const speed = state === 'uploading' ? speedOf(job.samples) : 0;
  el.speed.textContent = humanSpeed(speed);
  el.eta.textContent = speed ? `${humanDuration((job.size - job.sent) / speed)} left` : '';
  el.cancel.hidden = state !== 'queued' && state !== 'uploading';
  el.retry.hidden = !(state === 'error' && job.retry);
  el.resume.hidden = el.discard.hidden = state !== 'interrupted';
}

/** Bytes a second over the last few seconds of progress events (not since the start). */
function speedOf(samples = []) {
  if (samples.length < 2) return 0;
  const [t0, b0] = samples[0];
  const elapsed = performance.now() - t0;
  return elapsed >= 500 ? ((samples[samples.length - 1][1] - b0) * 1000) / elapsed : 0;
}

export function removeRow(job) {
  job.el.row.remove();
}

export function paintSummary(jobs) {
  const count = (state) => jobs.filter((job) => job.state === state).length;
  const parts = [`${count('done')} of ${jobs.length - count('cancelled')} uploaded`];
  if (count('error')) parts.push(`${count('error')} failed`);
  if (count('interrupted')) parts.push(`${count('interrupted')} interrupted`);
  clearButton.hidden = !jobs.some((job) => ['done', 'cancelled', 'error'].includes(job.state));
  const text = parts.join(' · ');
  if (summary.textContent !== text) summary.textContent = text;
  section.hidden = !jobs.length;
  document.body.classList.toggle('has-uploads', jobs.length > 0);
}
