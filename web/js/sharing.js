// Publish/unpublish and share links: registers the actions with item_actions.js.
