// Uploads over tus (vendored tus-js-client: window.tus): a queue, at most
// three at once, each with progress, speed, time left, cancel and retry.
// Unfinished uploads are remembered in localStorage: after a reload they are
// listed as interrupted and resume from the server's offset once the file is
// chosen again (a page cannot reopen a file by itself).
import { api, authHeaders } from './api.js';
import { h } from './dom.js';
import { emit, on } from './events.js';
import { humanSize } from './format.js';
import { describe } from './messages.js';
import { setToken, token } from './session.js';
import { state } from './state.js';
import { newBatch, startDrop } from './upload_drop.js';
import { addRow, paintRow, paintSummary, removeRow, startPanel } from './upload_panel.js';

const PARALLEL = 3;
const STORE = 'files-manager.uploads';
// Bytes per PATCH; a test sets a small one to see an upload stop half-way.
const CHUNK_KEY = 'files-manager.upload-chunk-size';
const ENDPOINT = new URL('/v2/uploads', location.href).href;
const RETRY_DELAYS = [0, 1000, 3000, 5000];

const jobs = [];
let limitsLoaded = Promise.resolve();
let inputs = null;

/** Called once at start. */
export function startUploads() {
  const input = (label, props = {}) => h('input', { type: 'file', class: 'visually-hidden', tabindex: '-1',
    'aria-label': label, ...props });
  inputs = { files: input('Files to upload', { multiple: true }), folder: input('Folder to upload', { webkitdirectory: true }),
    resume: input('File to resume') };
  inputs.files.addEventListener('change', () => picked(inputs.files, (file) => file.name));
  inputs.folder.addEventListener('change', () => picked(inputs.folder, (file) => file.webkitRelativePath || file.name));
  inputs.resume.addEventListener('change', resumePicked);
  document.body.append(inputs.files, inputs.folder, inputs.resume);
  startPanel({ cancel, retry, resume: (job) => { inputs.resume.job = job; inputs.resume.click(); }, discard, clear });
  startDrop(enqueueUploads);
  // Speed and time left fall while nothing moves.
  setInterval(() => jobs.forEach((job) => job.state === 'uploading' && paintRow(job)), 1000);
  on('signed-in', signedIn);
  on('signed-out', () => {
    for (const job of [...jobs]) {
      if (job.state === 'uploading' || job.state === 'queued') fail(job, { status: 401 });
      if (job.state === 'interrupted') drop(job);
    }
  });
  if (token()) signedIn();
}

/**
 * Queue files for upload into folder `parentId`. `entries`: [{file: File, path: 'a/b/c.txt'}];
 * `path` (relative, '/'-separated) keeps a dropped folder's tree: its folders are made as needed
 * (an entry with `file: null` and a path ending in '/' is an empty folder).
 */
export function enqueueUploads(entries, parentId = state.folderId) {
  const batch = newBatch(String(parentId));
  for (const { file, path } of entries) {
    if (!file) {
      batch.folder(path).catch(() => {});
      continue;
    }
    const job = { name: file.name, path: path || file.name, size: file.size, lastModified: file.lastModified, file,
      batch, state: 'queued', sent: 0 };
    jobs.push(job);
    addRow(job);
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

function picked(input, pathOf) {
  const files = [...input.files];
  enqueueUploads(files.map((file) => ({ file, path: pathOf(file) })), input.parentId ?? state.folderId);
  input.parentId = null;
  input.value = '';
}

async function signedIn() {
  limitsLoaded = fetch(ENDPOINT, { method: 'OPTIONS', headers: authHeaders(), cache: 'no-store' }).then((response) => {
    const max = Number(response.headers.get('Tus-Max-Size'));
    if (response.ok && max > 0) state.limits.maxFileSize = max;
  }).catch(() => {});
  try {
    state.user ??= await api('/v2/users/me');
  } catch {
    return;
  }
  for (const record of records()) {
    if (record.user !== state.user.id || jobs.some((job) => job.url === record.url)) continue;
    const job = { ...record, path: record.name, sent: Math.round(record.progress * record.size), state: 'interrupted' };
    jobs.push(job);
    addRow(job);
  }
  paintSummary(jobs);
}

/** Starts queued uploads while fewer than PARALLEL run. */
function pump() {
  let running = jobs.filter((job) => job.state === 'uploading').length;
  for (const job of jobs) {
    if (running >= PARALLEL) break;
    if (job.state === 'queued') {
      running += 1;
      start(job);
    }
  }
  paintSummary(jobs);
}

/** `job` moved to another state. */
function changed(job) {
  paintRow(job);
  pump();
}

async function start(job) {
  job.state = 'uploading';
  job.error = null;
  job.samples = [];
  paintRow(job);
  await limitsLoaded;
  const max = state.limits.maxFileSize;
  if (max && job.size > max) return fail(job, { status: 413 });
  try {
    job.parentId ??= await job.batch.folder(job.path);
  } catch (error) {
    return fail(job, error);
  }
  if (job.state !== 'uploading') return;
  const upload = new window.tus.Upload(job.file, {
    endpoint: ENDPOINT,
    headers: authHeaders(),
    metadata: { filename: job.name, parentId: job.parentId },
    chunkSize: Number(localStorage.getItem(CHUNK_KEY)) || 8 * 1024 * 1024,
    retryDelays: RETRY_DELAYS,
    removeFingerprintOnSuccess: true,
    // The folder is part of it: the same file sent to two folders is two uploads.
    fingerprint: (file) => Promise.resolve(['files-manager', file.name, file.size, file.lastModified, job.parentId,
      ENDPOINT].join('/')),
    onShouldRetry: (error) => navigator.onLine && [0, 409, 423, 500, 502, 503, 504].includes(failure(error).status),
    onUploadUrlAvailable() {
      if (job.state === 'cancelled') window.tus.Upload.terminate(upload.url, terminateOptions()).catch(() => {});
      else if (job.upload === upload) {
        job.url = upload.url;
        remember(job);
      }
    },
    onAfterResponse(request, response) {
      const offset = Number(response.getHeader('Upload-Offset'));
      if (request.getMethod() === 'HEAD' && offset > 0 && offset < job.size && job.upload === upload) {
        job.note = `Resuming at ${Math.floor((offset / job.size) * 100)} %`;
        paintRow(job);
      }
      job.fileId = response.getHeader('File-Id') || job.fileId;
    },
    onProgress(sent) {
      if (job.upload !== upload) return;
      job.sent = sent;
      const now = performance.now();
      job.samples.push([now, sent]);
      while (job.samples.length > 2 && now - job.samples[0][0] > 5000) job.samples.shift();
      if (!(now - (job.painted || 0) < 200)) {
        job.painted = now;
        paintRow(job);
      }
    },
    onChunkComplete() {
      if (job.upload !== upload) return;
      remember(job);
      paintRow(job);
    },
    onSuccess() {
      if (job.upload !== upload) return;
      job.state = 'done';
      job.note = null;
      job.sent = job.size;
      job.upload = null;
      forget(job.url);
      emit('files-changed', { parentIds: [job.parentId] });
      emit('usage-changed');
      changed(job);
    },
    onError(error) {
      if (job.upload === upload) fail(job, failure(error));
    },
  });
  job.upload = upload;
  const previous = await upload.findPreviousUploads();
  const busy = new Set(jobs.map((other) => other !== job && other.upload && other.url).filter(Boolean));
  const resumable = previous.find((entry) => entry.uploadUrl === job.url)
    || previous.find((entry) => entry.uploadUrl && !busy.has(entry.uploadUrl));
  if (job.upload !== upload) return;
  if (resumable) upload.resumeFromPreviousUpload(resumable);
  upload.start();
}

/** A tus-js-client error as the app's ApiError: {status (0: no answer), message}. */
function failure(error) {
  const response = error.originalResponse;
  if (!response) return { status: error.originalRequest ? 0 : -1, message: 'The file could not be read. Choose it again.' };
  let message = '';
  try {
    message = JSON.parse(response.getBody()).error;
  } catch { /* no JSON body */ }
  return { status: response.getStatus(), message: message || `HTTP ${response.getStatus()}` };
}

const MESSAGES = {
  0: 'Connection lost. Check the connection, then retry.',
  401: 'Your session has ended. Log in again, then retry.',
  460: 'The bytes were damaged on the way. Retry.',
};

function fail(job, error) {
  if (job.upload) job.upload.abort(false);
  job.upload = null;
  job.state = 'error';
  job.note = null;
  job.error = MESSAGES[error.status] || describe(error, { maxFileSize: state.limits.maxFileSize });
  job.retry = error.status !== 413;
  if (error.status === 401 && token()) {
    setToken(null);
    emit('signed-out', { expired: true });
  }
  if (error.status === 413 || error.status === 507) forget(job.url);
  changed(job);
}

function cancel(job) {
  const { upload } = job;
  job.upload = null;
  job.state = 'cancelled';
  job.note = null;
  if (upload) upload.abort(true).catch(() => {});
  forget(job.url);
  changed(job);
}

function retry(job) {
  job.state = 'queued';
  job.note = null;
  changed(job);
}

function resumePicked() {
  const { job } = inputs.resume;
  const file = inputs.resume.files[0];
  inputs.resume.value = '';
  if (!job || !file) return;
  if (file.name !== job.name || file.size !== job.size || file.lastModified !== job.lastModified) {
    job.note = `That is not the same file: choose “${job.name}” (${humanSize(job.size)}).`;
  } else {
    Object.assign(job, { file, state: 'queued', note: null });
  }
  changed(job);
}

async function discard(job) {
  try {
    await window.tus.Upload.terminate(job.url, terminateOptions());
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
  for (const job of [...jobs]) {
    if (['done', 'cancelled', 'error'].includes(job.state)) drop(job);
  }
}

function drop(job) {
  jobs.splice(jobs.indexOf(job), 1);
  removeRow(job);
  paintSummary(jobs);
}

function terminateOptions() {
  return { headers: authHeaders(), retryDelays: RETRY_DELAYS };
}

// The unfinished uploads of this browser, for every account that used it:
// [{url, name, size, lastModified, parentId, progress (0..1), user}].
function records() {
  try {
    return JSON.parse(localStorage.getItem(STORE)) || [];
  } catch {
    return [];
  }
}

function remember(job) {
  const { url, name, size, lastModified, parentId } = job;
  const record = { url, name, size, lastModified, parentId, progress: job.sent / job.size || 0, user: state.user?.id };
  localStorage.setItem(STORE, JSON.stringify([...records().filter((r) => r.url !== url), record]));
}

/** Forgets an upload: ours and tus-js-client's record of it. */
function forget(url) {
  if (!url) return;
  localStorage.setItem(STORE, JSON.stringify(records().filter((r) => r.url !== url)));
  for (const key of Object.keys(localStorage)) {
    if (key.startsWith('tus::') && localStorage.getItem(key).includes(JSON.stringify(url))) localStorage.removeItem(key);
  }
}
