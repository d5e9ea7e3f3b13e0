// Building the page from data.  Values from the API only ever become text
// nodes: el() has no way to parse markup, and the page's Content-Security-
// Policy (require-trusted-types-for 'script') makes the browser refuse a
// string assigned to innerHTML anywhere.

export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === 'class') node.className = value;
    else if (name === 'data') Object.assign(node.dataset, value);
    else if (name.startsWith('on')) node.addEventListener(name.slice(2), value);
    else node.setAttribute(name, value);
  }
  for (const child of children.flat()) {
    if (child !== undefined && child !== null && child !== false) {
      node.append(child);
    }
  }
  return node;
}

export const byId = (id) => document.getElementById(id);

export function show(node, visible) {
  node.hidden = !visible;
}

// "2026-12-05T00:58:29.123Z" as a <time>, read in UTC as the API gives it
export function when(iso) {
  return el('time', { datetime: iso }, iso.replace('T', ' ').replace('Z', ' UTC'));
}
