"""The rules of the files service, below both HTTP surfaces (v1 and v2) and
above the storage: names, quotas, content types from bytes, cursors, share
link tokens. Nothing here knows HTTP; the API's routes call it and the
error middleware turns its domain errors into statuses."""
