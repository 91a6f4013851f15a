// Uploads over tus (vendored tus-js-client: window.tus): a queue, three at
// once. Unfinished uploads are remembered in localStorage; after a reload they
// are listed as interrupted and resume from the server's offset once the file
// is chosen again (a page cannot reopen a file by itself).
import { api, authHeaders } from './api.js';
import { h } from './dom.js';
import { emit, on } from './events.js';
import { humanSize } from './format.js';
import { describe } from './messages.js';
import { setToken, token } from './session.js';
import { state } from './state.js';
import { newBatch, startDrop } from './upload_drop.js';
import { addRow, paintRow, paintSummary, removeRow, startPanel } from './upload_panel.js';

const STORE = 'files-manager.uploads';
const CHUNK_KEY = 'files-manager.upload-chunk-size'; // bytes per PATCH; tests set a small one
const ENDPOINT = new URL('/v2/uploads', location.href).href;
const RETRY = { retryDelays: [0, 1000, 3000, 5000] };
const MESSAGES = {
  0: 'Connection lost. Check the connection, then retry.',
  401: 'Your session has ended. Log in again, then retry.',
  460: 'The bytes were damaged on the way. Retry.',
};
const jobs = [];
let limits = Promise.resolve();
let inputs;

/** Called once at start. */
export function startUploads() {
  const input = (label, props) => h('input', { type: 'file', class: 'visually-hidden', tabindex: -1,
    'aria-label': label, ...props });
  inputs = { files: input('Files to upload', { multiple: true }), folder: input('Folder to upload', { webkitdirectory: true }),
    resume: input('File to resume') };
  for (const [key, pathOf] of [['files', (f) => f.name], ['folder', (f) => f.webkitRelativePath || f.name]]) {
    const el = inputs[key];
    el.onchange = () => {
      enqueueUploads([...el.files].map((file) => ({ file, path: pathOf(file) })), el.parentId ?? state.folderId);
      el.value = el.parentId = null;
    };
  }
  inputs.resume.onchange = resumePicked;
  document.querySelector('.topbar').append(...Object.values(inputs)); // in a landmark, as every control
  startPanel({ cancel, retry, resume: (job) => { inputs.resume.job = job; inputs.resume.click(); }, discard, clear });
  startDrop(enqueueUploads);
  // Speed and time left fall while nothing moves.
  setInterval(() => jobs.forEach((job) => job.state === 'uploading' && paintRow(job)), 1000);
  on('signed-in', signedIn);
  // An ended session keeps its rows, to retry after logging in again; a log-out
  // leaves nothing on screen (the server keeps the unfinished ones for next time).
  on('signed-out', ({ expired } = {}) => [...jobs].forEach((job) => {
    const running = job.state === 'uploading' || job.state === 'queued';
    if (expired && running) return fail(job, { status: 401 });
    if (expired && job.state !== 'interrupted') return;
    job.upload?.abort(false);
    job.upload = null;
    drop(job);
  }));
  if (token()) signedIn();
}

/**
 * Queue files for upload into folder `parentId`. `entries`: [{file: File, path: 'a/b/c.txt'}];
 * `path` keeps a dropped folder's tree: its folders are made as needed
 * (`file: null` with a path ending in '/': an empty folder).
 */
export function enqueueUploads(entries, parentId = state.folderId) {
  const batch = newBatch(String(parentId));
  for (const { file, path } of entries) {
    if (!file) {
      batch.folder(path).catch(() => {});
    } else {
      const { name, size, lastModified } = file;
      add({ name, size, lastModified, file, path: path || name, batch, state: 'queued', sent: 0 });
    }
  }
  pump();
}

/** Opens the file picker (multiple) for folder `parentId`. */
export function pickFiles(parentId = state.folderId) {
  inputs.files.parentId = parentId;
  inputs.files.click();
}

/** Opens the folder picker: the chosen folder is uploaded with its tree. */
export function pickFolder(parentId = state.folderId) {
  inputs.folder.parentId = parentId;
  inputs.folder.click();
}

function add(job) {
  jobs.push(job);
  addRow(job);
}

async function signedIn() {
  limits = fetch(ENDPOINT, { method: 'OPTIONS', headers: authHeaders() }).then((response) => {
    const max = Number(response.headers.get('Tus-Max-Size'));
    if (max > 0) state.limits.maxFileSize = max;
  }, () => {});
  try {
    state.user ??= await api('/v2/users/me');
  } catch {
    return;
  }
  for (const record of records()) {
    if (record.user === state.user.id && !jobs.some((job) => job.url === record.url)) {
      add({ ...record, path: record.name, state: 'interrupted' });
    }
  }
  paintSummary(jobs);
}

/** Starts queued uploads while fewer than three run. */
function pump() {
  let running = jobs.filter((job) => job.state === 'uploading').length;
  for (const job of jobs) {
    if (running < 3 && job.state === 'queued') {
      running += 1;
      start(job);
    }
  }
  paintSummary(jobs);
}

function set(job, changes) {
  Object.assign(job, { note: null, error: null }, changes);
  paintRow(job);
  pump();
}

async function start(job) {
  // Not set(): pump() is running.
  Object.assign(job, { state: 'uploading', samples: [], note: null, error: null });
  paintRow(job);
  try {
    await limits;
    if (job.size > (state.limits.maxFileSize ?? Infinity)) throw { status: 413 };
    job.parentId ??= await job.batch.folder(job.path);
  } catch (error) {
    return fail(job, error);
  }
  if (job.state !== 'uploading') return;
  const mine = (f) => (...args) => job.upload === upload && f(...args);
  const upload = new window.tus.Upload(job.file, {
    endpoint: ENDPOINT,
    headers: authHeaders(),
    metadata: { filename: job.name, parentId: job.parentId },
    chunkSize: Number(localStorage.getItem(CHUNK_KEY)) || 8 << 20,
    ...RETRY,
    removeFingerprintOnSuccess: true,
    // The folder is in it: the same file sent to two folders is two uploads.
    fingerprint: (file) => Promise.resolve(['fm', file.name, file.size, file.lastModified, job.parentId, ENDPOINT].join('/')),
    onShouldRetry: (error) => navigator.onLine && [0, 409, 423, 500, 502, 503, 504].includes(failure(error).status),
    onUploadUrlAvailable() {
      if (job.state === 'cancelled') window.tus.Upload.terminate(upload.url, options()).catch(() => {});
      else if (job.upload === upload) remember(job, upload.url);
    },
    onAfterResponse: mine((request, response) => {
      const offset = Number(response.getHeader('Upload-Offset'));
      if (request.getMethod() === 'HEAD' && offset > 0 && offset < job.size) {
        job.note = `Resuming at ${Math.floor((offset / job.size) * 100)} %`;
        paintRow(job);
      }
      job.fileId = response.getHeader('File-Id') || job.fileId;
    }),
    onProgress: mine((sent) => {
      const now = performance.now();
      job.sent = sent;
      job.samples.push([now, sent]);
      while (now - job.samples[0][0] > 5000) job.samples.shift();
      if (!(now - job.painted < 200)) {
        job.painted = now;
        paintRow(job);
      }
    }),
    onChunkComplete: mine((_, accepted) => {
      remember(job, job.url, accepted);
      paintRow(job);
    }),
    onSuccess: mine(() => {
      forget(job.url);
      set(job, { state: 'done', sent: job.size, upload: null });
      emit('files-changed', { parentIds: [job.parentId] });
      emit('usage-changed');
    }),
    onError: mine((error) => fail(job, failure(error))),
  });
  job.upload = upload;
  const previous = await upload.findPreviousUploads();
  const busy = jobs.map((other) => other !== job && other.upload && other.url);
  const resumable = previous.find((entry) => entry.uploadUrl === job.url)
    || previous.find((entry) => entry.uploadUrl && !busy.includes(entry.uploadUrl));
  if (job.upload !== upload) return;
  if (resumable) upload.resumeFromPreviousUpload(resumable);
  upload.start();
}

/** A tus-js-client error as an ApiError: {status (0: no answer, -1: not a request), message}. */
function failure(error) {
  const response = error.originalResponse;
  if (!response) return { status: error.originalRequest ? 0 : -1, message: 'The file could not be read. Choose it again.' };
  let message;
  try {
    message = JSON.parse(response.getBody()).error;
  } catch { /* no JSON body */ }
  return { status: response.getStatus(), message: message || `HTTP ${response.getStatus()}` };
}

function fail(job, error) {
  job.upload?.abort(false);
  const { status } = error;
  if (status === 401 && token()) {
    setToken(null);
    emit('signed-out', { expired: true });
  }
  if (status === 413 || status === 507) forget(job.url);
  set(job, { state: 'error', upload: null, retry: status !== 413,
    error: MESSAGES[status] || describe(error, { maxFileSize: state.limits.maxFileSize }) });
}

function cancel(job) {
  job.upload?.abort(true).catch(() => {});
  forget(job.url);
  set(job, { state: 'cancelled', upload: null });
}

function retry(job) {
  set(job, { state: 'queued' });
}

function resumePicked() {
  const { job } = inputs.resume;
  const file = inputs.resume.files[0];
  inputs.resume.value = '';
  if (!file || !job) return;
  if (file.name === job.name && file.size === job.size && file.lastModified === job.lastModified) {
    set(job, { file, state: 'queued' });
  } else {
    job.note = `That is not the same file: choose “${job.name}” (${humanSize(job.size)}).`;
    paintRow(job);
  }
}

async function discard(job) {
  try {
    await window.tus.Upload.terminate(job.url, options());
  } catch (error) {
    const { status } = failure(error);
    if (status !== 404) {
      job.note = describe({ status, message: 'The upload could not be discarded.' });
      return paintRow(job);
    }
  }
  forget(job.url);
  drop(job);
}

function clear() {
  [...jobs].forEach((job) => ['done', 'cancelled', 'error'].includes(job.state) && drop(job));
}

function drop(job) {
  jobs.splice(jobs.indexOf(job), 1);
  removeRow(job);
  paintSummary(jobs);
}

function options() {
  return { headers: authHeaders(), ...RETRY };
}

// This browser's unfinished uploads, of every account that used it:
// [{url, name, size, lastModified, parentId, sent (bytes the server has), user}].
function records() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || [];
  } catch {
    return [];
  }
}

function remember(job, url, sent = 0) {
  const { name, size, lastModified, parentId } = job;
  job.url = url;
  const record = { url, name, size, lastModified, parentId, sent, user: state.user?.id };
  localStorage.setItem(STORE, JSON.stringify([...records().filter((r) => r.url !== url), record]));
}

/** Forgets an upload: our record and tus-js-client's. */
function forget(url) {
  if (!url) return;
  localStorage.setItem(STORE, JSON.stringify(records().filter((r) => r.url !== url)));
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith('tus::') && localStorage.getItem(key).includes(`"${url}"`)) localStorage.removeItem(key);
  }
}
