// What can be done to a file or folder, registered by the modules that do it
// (rename, move, trash, share, ...) and shown by the browser in each item's
// menu and on its keyboard shortcut. The browser knows no action; an action
// knows no list.
const actions = [];

/**
 * register({id, label, when?(item) -> bool, key?: 'F2' | 'Delete' | ..., run(item, siblings?), order?, danger?})
 * `item` is a v2 file document; `siblings`, when given, the items listed with it (the preview steps through them).
 */
export function registerAction(action) {
  actions.push({ order: 100, when: () => true, ...action });
  actions.sort((a, b) => a.order - b.order);
}

export function actionsFor(item) {
  return actions.filter((action) => action.when(item));
}

export function actionForKey(item, key) {
  return actionsFor(item).find((action) => action.key === key) || null;
}
