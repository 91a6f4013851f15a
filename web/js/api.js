// Every request the app makes goes through here: the token as a Bearer header,
// JSON in and out, and one error type whatever went wrong.
import { emit } from './events.js';
import { setToken, token } from './session.js';

export class ApiError extends Error {
  /** status 0 = the server could not be reached. `code`: the v2 error code; `retryAfter`: seconds or null. */
  constructor(status, message, code = null, retryAfter = null) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

export function authHeaders() {
  const value = token();
  return value ? { Authorization: `Bearer ${value}` } : {};
}

/**
 * api('/v2/files?parentId=0') -> parsed JSON (null for 204).
 * Options: method, json (sent as JSON), body, headers, signal, auth (default true).
 * Throws ApiError; an AbortError passes through. A 401 on an authenticated call ends the session.
 */
export async function api(path, { method = 'GET', json, body, headers = {}, signal, auth = true } = {}) {
  const response = await send(path, { method, json, body, headers, signal, auth, accept: 'application/json' });
  if (response.status === 204) return null;
  return response.json();
}

/**
 * The body of a GET as a Blob (thumbnails, previews, downloads), with the token.
 * `onProgress(received, total)` (total from Content-Length, else null) as the body streams in.
 */
export async function apiBlob(path, { signal, onProgress } = {}) {
  const response = await send(path, { method: 'GET', headers: {}, signal, auth: true, accept: '*/*' });
  if (!onProgress || !response.body) return response.blob();
  const total = Number(response.headers.get('Content-Length')) || null;
  const chunks = [];
  let received = 0;
  const reader = response.body.getReader();
  try {
    for (let part = await reader.read(); !part.done; part = await reader.read()) {
      chunks.push(part.value);
      received += part.value.length;
      onProgress(received, total);
    }
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'The connection was lost. Try again.', 'network');
  }
  return new Blob(chunks, { type: response.headers.get('Content-Type') || '' });
}

async function send(path, { method, json, body, headers, signal, auth, accept }) {
  const all = { Accept: accept, ...(auth ? authHeaders() : {}), ...headers };
  if (json !== undefined) {
    all['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  }
  let response;
  try {
    response = await fetch(path, { method, headers: all, body, signal, cache: 'no-store', credentials: 'same-origin' });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(0, 'The server cannot be reached. Check the connection and try again.', 'network');
  }
  if (response.ok) return response;
  let data = null;
  if ((response.headers.get('Content-Type') || '').includes('json')) data = await response.json().catch(() => null);
  const retry = Number.parseInt(response.headers.get('Retry-After') || '', 10);
  const error = new ApiError(response.status, data?.error || response.statusText || `HTTP ${response.status}`,
    data?.code ?? null, Number.isFinite(retry) ? retry : null);
  if (response.status === 401 && auth && token()) {
    setToken(null);
    emit('signed-out', { expired: true });
  }
  throw error;
}
