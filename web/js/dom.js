// Building DOM without HTML strings: the page's CSP enforces Trusted Types, so
// innerHTML and friends throw. Text always goes in as text.

/**
 * h('button', {class: 'primary', type: 'button', onclick: fn, 'aria-label': 'Close'}, 'Text', child)
 * Props: `class`, `text`, `on<event>` (a listener), `dataset` (an object), booleans
 * (`hidden: true`, `disabled: false`), anything else as an attribute (null/undefined/false skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = tag.includes(':') ? document.createElementNS('http://www.w3.org/2000/svg', tag.split(':')[1])
    : document.createElement(tag);
  for (const [key, value] of Object.entries(props ?? {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (value === true) el.setAttribute(key, '');
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el) {
  el.replaceChildren();
  return el;
}

/** A small inline SVG icon from the sprite-free set below (decorative: aria-hidden). */
export function icon(name) {
  const svg = h('svg:svg', { class: `icon icon-${name}`, viewBox: '0 0 24 24', 'aria-hidden': 'true', focusable: 'false' });
  svg.append(h('svg:path', { d: ICONS[name] ?? ICONS.file }));
  return svg;
}

const ICONS = {
  folder: 'M3 6.5A2.5 2.5 0 0 1 5.5 4h4l2 2.5h7A2.5 2.5 0 0 1 21 9v8.5a2.5 2.5 0 0 1-2.5 2.5h-13A2.5 2.5 0 0 1 3 17.5z',
  file: 'M6 2.5h8l5 5V20a1.5 1.5 0 0 1-1.5 1.5h-11A1.5 1.5 0 0 1 5 20V4a1.5 1.5 0 0 1 1-1.5zM13.5 3v5h5',
  image: 'M4 4h16v16H4zM4 16l5-5 4 4 3-3 4 4M15.5 8.5a1.5 1.5 0 1 0 0 .01',
  more: 'M12 5.5a1.5 1.5 0 1 0 0 .01M12 12a1.5 1.5 0 1 0 0 .01M12 18.5a1.5 1.5 0 1 0 0 .01',
  close: 'M6 6l12 12M18 6L6 18',
  upload: 'M12 16V4M7 9l5-5 5 5M4 20h16',
  trash: 'M4 7h16M9 7V4h6v3M6 7l1 13h10l1-13',
  share: 'M8 12a3 3 0 1 1 0-.01M18 6a3 3 0 1 1 0-.01M18 18a3 3 0 1 1 0-.01M10.7 10.6l4.6-3.2M10.7 13.4l4.6 3.2',
  grid: 'M4 4h7v7H4zM13 4h7v7h-7zM4 13h7v7H4zM13 13h7v7h-7z',
  list: 'M4 6h16M4 12h16M4 18h16',
};
