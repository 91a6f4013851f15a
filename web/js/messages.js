// What a person reads when something fails: one sentence, what happened and what to do.
import { humanSize } from './format.js';

export function describe(error, { maxFileSize } = {}) {
  if (!error) return 'Something went wrong.';
  if (error.name === 'AbortError') return 'Cancelled.';
  switch (error.status) {
    case 0: return 'The server cannot be reached. Check the connection and try again.';
    case 413: return maxFileSize ? `Too large: files may be up to ${humanSize(maxFileSize)}.` : 'Too large for this server.';
    case 429: return error.retryAfter ? `Too many attempts. Try again in ${waitText(error.retryAfter)}.`
      : 'Too many attempts. Try again later.';
    case 503: return 'The server is busy. Try again in a moment.';
    case 507: return 'Not enough space: your storage quota is full. Empty the trash or delete files to make room.';
    default: return error.message || 'Something went wrong.';
  }
}

function waitText(seconds) {
  if (seconds < 90) return `${seconds} second${seconds === 1 ? '' : 's'}`;
  const minutes = Math.ceil(seconds / 60);
  return `${minutes} minutes`;
}
