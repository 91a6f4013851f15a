// File and folder actions: open/preview, download, rename, move, trash.
// Registers them with item_actions.js.
