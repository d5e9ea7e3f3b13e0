// A list the API gives a page at a time: each page names the cursor of the
// next one (null on the last), and a "more" button asks for it.

import { show } from './dom.js';

// readPage(cursor) shows a page (cursor null: the first) and resolves to
// the next page's cursor; failed(error) hears what a click could not do
export function pager(more, readPage, failed) {
  let cursor = null;

  async function next() {
    cursor = await readPage(cursor);
    show(more, cursor !== null);
  }

  more.addEventListener('click', () => next().catch(failed));

  return {
    first() {
      cursor = null;
      return next();
    },
  };
}
