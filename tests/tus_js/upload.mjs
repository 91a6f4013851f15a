// Drives tus-js-client (the tus project's own JavaScript client) against
// /v2/uploads for tests/api/test_tus_clients.py.
//
//   node upload.mjs '<JSON options>'
//
// Options: endpoint, headers (the token's), file (a path, read as a stream), chunkSize,
// metadata, urlStorage (a file for tus-js-client's FileUrlStorage: a second
// run with the same file and storage finds the first run's upload by its
// fingerprint and resumes it), uploadUrl (resume that URL instead),
// stopAfterChunks (abort once that many chunks were accepted, as a client
// that goes away would), uploadDataDuringCreation, overridePatchMethod.
//
// Prints one JSON line per event on stdout: {"event": "url"|"chunk"|
// "resumed"|"stopped"|"success"|"error", ...}; exits 0 unless an error.

import * as fs from 'node:fs'
import { FileUrlStorage, Upload } from 'tus-js-client'

const options = JSON.parse(process.argv[2])
const say = (event, fields = {}) => process.stdout.write(`${JSON.stringify({ event, ...fields })}\n`)

const size = fs.statSync(options.file).size
const source = fs.createReadStream(options.file)
let chunks = 0
let finished = false

const upload = new Upload(source, {
  endpoint: options.endpoint,
  uploadUrl: options.uploadUrl ?? null,
  uploadSize: size,
  chunkSize: options.chunkSize,
  metadata: options.metadata,
  headers: options.headers,
  ...(options.urlStorage ? { urlStorage: new FileUrlStorage(options.urlStorage) } : {}),
  uploadDataDuringCreation: Boolean(options.uploadDataDuringCreation),
  overridePatchMethod: Boolean(options.overridePatchMethod),
  retryDelays: [0, 100, 500],
  onUploadUrlAvailable() {
    say('url', { url: upload.url })
  },
  onChunkComplete(chunkSize, bytesAccepted) {
    chunks += 1
    say('chunk', { bytesAccepted })
    if (options.stopAfterChunks && chunks >= options.stopAfterChunks && bytesAccepted < size) {
      finished = true
      upload.abort(false).then(() => {
        say('stopped', { url: upload.url, offset: bytesAccepted })
        process.exit(0)
      })
    }
  },
  onSuccess({ lastResponse }) {
    finished = true
    say('success', { url: upload.url, fileId: lastResponse.getHeader('File-Id') ?? null })
    process.exit(0)
  },
  onError(error) {
    finished = true
    say('error', { message: String(error) })
    process.exit(1)
  },
})

if (options.urlStorage && !options.uploadUrl) {
  const previous = await upload.findPreviousUploads()
  if (previous.length > 0) {
    say('resumed', { previous: previous.length })
    upload.resumeFromPreviousUpload(previous[0])
  }
}
upload.start()

process.on('exit', () => {
  if (!finished) say('error', { message: 'exited before the upload ended' })
})
