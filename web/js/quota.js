// The quota bar in the top bar, on every page; refetched when usage may have changed.
export function startQuota() {}
