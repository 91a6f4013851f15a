// A list that keeps only the items in view (plus a margin) in the DOM, over the
// window's scroll: fixed-size rows (or tiles, several to a row), positioned with
// transforms over a spacer as tall as every loaded item, so 10,000 items cost
// what 40 cost. Sizes come from CSS (a hidden probe element), not from JS.
import { h } from './dom.js';

const OVERSCAN = 8; // rows kept beyond each edge of the viewport: a fast scroll shows no gap

/**
 * virtualList({label, render(index, reuse?) -> Element, release(el)?, onRange(first, last)?})
 * render() may refill `reuse`, an element no longer shown, instead of making one (no DOM churn);
 * rows are put back in index order in the DOM once scrolling pauses.
 * -> {el, setCount(n), reset(), layout(), show(index) -> Element, element(index), cols(), rowsPerPage(), destroy()}
 */
export function virtualList({ label, render, release = () => {}, onRange = () => {} }) {
  const probe = h('div', { class: 'vlist-probe', 'aria-hidden': 'true' });
  const list = h('ul', { class: 'vlist-items', 'aria-label': label });
  const el = h('div', { class: 'vlist' }, probe, list);
  const shown = new Map(); // index -> element
  const spare = []; // elements scrolled out of view, handed to render() to be refilled
  let count = 0;
  let rowH = 48;
  let cols = 1;
  let width = 0;
  let gap = 0;
  let frame = 0;
  let tidy = 0;

  function layout() {
    const style = getComputedStyle(list);
    gap = Number.parseFloat(style.columnGap) || 0;
    width = list.clientWidth;
    cols = Math.max(1, Math.floor((width + gap) / (probe.offsetWidth + gap)));
    rowH = Math.max(1, probe.offsetHeight + (cols > 1 ? gap : 0));
    list.style.setProperty('--cell-w', `${cols > 1 ? (width - gap * (cols - 1)) / cols : width}px`);
    list.style.height = `${Math.ceil(count / cols) * rowH}px`;
    for (const [index, item] of shown) place(item, index);
    update();
  }

  function place(item, index) {
    const col = index % cols;
    const x = cols > 1 ? col * ((width - gap * (cols - 1)) / cols + gap) : 0;
    item.style.transform = `translate(${x}px,${Math.floor(index / cols) * rowH}px)`;
  }

  function add(index) {
    const item = render(index, spare.pop());
    item.dataset.index = index;
    item.setAttribute('aria-posinset', index + 1);
    place(item, index);
    shown.set(index, item);
    if (item.parentNode !== list) list.append(item);
    return item;
  }

  function drop(index, item) {
    shown.delete(index);
    release(item);
    spare.push(item);
  }

  function update() {
    frame = 0;
    const top = list.getBoundingClientRect().top;
    const first = Math.max(0, Math.floor(-top / rowH) - OVERSCAN) * cols;
    const last = Math.min(count, (Math.ceil((innerHeight - top) / rowH) + OVERSCAN) * cols) - 1;
    for (const [index, item] of shown) {
      const keep = item.contains(document.activeElement) || item.classList.contains('dragging');
      if ((index < first || index > last || index >= count) && !keep) drop(index, item);
    }
    for (let index = first; index <= last; index += 1) if (!shown.has(index)) add(index);
    for (const item of spare.splice(0)) item.remove();
    clearTimeout(tidy);
    tidy = setTimeout(order, 150);
    if (last >= first) onRange(first, last);
  }

  // Refilled rows end up anywhere in the DOM: once scrolling pauses, put them back in reading
  // order for assistive technology (moveBefore keeps focus where plain insertion would drop it).
  function order() {
    [...shown.keys()].sort((a, b) => a - b).forEach((index, at) => {
      const item = shown.get(index);
      const there = list.children[at];
      if (there !== item) list[list.moveBefore ? 'moveBefore' : 'insertBefore'](item, there);
    });
  }

  const schedule = () => { frame ||= requestAnimationFrame(update); };
  const resized = new ResizeObserver(() => { if (list.clientWidth !== width) layout(); });
  resized.observe(list);
  addEventListener('scroll', update, { passive: true }); // once a frame, just before painting it
  addEventListener('resize', schedule);

  return {
    el,
    cols: () => cols,
    rowsPerPage: () => Math.max(1, Math.floor(innerHeight / rowH) - 2),
    element: (index) => shown.get(index) || null,
    setCount(n) {
      count = n;
      list.style.height = `${Math.ceil(count / cols) * rowH}px`;
      schedule();
    },
    /** Drops every rendered item (the data changed) and renders again. */
    reset() {
      for (const [index, item] of shown) drop(index, item);
      layout();
    },
    layout,
    /** The item at `index`, rendered and scrolled into view. */
    show(index) {
      const item = shown.get(index) || add(index);
      item.scrollIntoView({ block: 'nearest' });
      return item;
    },
    destroy() {
      cancelAnimationFrame(frame);
      clearTimeout(tidy);
      resized.disconnect();
      removeEventListener('scroll', update);
      removeEventListener('resize', schedule);
    },
  };
}
