// A list the API gives a page at a time: each page names the cursor of the
// next one (null on the last), and a "more" button asks for it.

import { show } from './dom.js';

// fetchPage(cursor) reads a page (cursor null: the first), showPage(page)
// adds it to the list; failed(error) hears what a click could not do.
export function pager(more, fetchPage, showPage, failed) {
  let cursor = null;
  let generation = 0;

  async function read() {
    const started = generation;
    const page = await fetchPage(cursor);
    // another customer was asked for meanwhile: this page is not theirs
    if (started !== generation) return;
    showPage(page);
    cursor = page.next;
    show(more, cursor !== null);
  }

  more.addEventListener('click', () => read().catch(failed));

  return {
    first() {
      generation += 1;
      cursor = null;
      return read();
    },
  };
}
