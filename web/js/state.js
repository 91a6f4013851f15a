// What several modules need to know about the signed-in person and the screen.
export const state = {
  user: null,          // GET /v2/users/me
  folderId: '0',       // the folder being shown ('0' = the root); uploads go here
  limits: { maxFileSize: null }, // from OPTIONS /v2/uploads (Tus-Max-Size)
};
