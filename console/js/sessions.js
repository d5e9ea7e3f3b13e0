// The customer's live sessions, each with the channels it crossed, and
// revoking one.

import { api, route } from './api.js';
import { preview } from './confirm.js';
import { byId, el, when } from './dom.js';
import { pager } from './pager.js';

const PAGE = 100;

const list = byId('session-list');

let customer = null;
let pages = null;
let hooks = null;

export function initSessions(given) {
  hooks = given;
  pages = pager(byId('sessions-more'), fetchPage, showPage, hooks.failed);
}

export function loadSessions(id) {
  customer = id;
  list.replaceChildren();
  return pages.first();
}

function fetchPage(after) {
  return api('GET', route('customers', customer, 'sessions'),
             { query: { after, limit: PAGE } });
}

function showPage(page) {
  list.append(...page.sessions.map(sessionItem));
  if (!list.children.length) {
    list.append(el('li', { class: 'empty' }, 'No active session.'));
  }
}

function sessionItem(session) {
  return el('li', { class: 'session', data: { session: session.id } },
    el('p', {}, 'Session ', el('code', { class: 'id' }, session.id)),
    el('p', { class: 'channels' }, 'Channels crossed: ',
       session.channels.map((channel) => el('span', { class: 'chip' }, channel))),
    el('p', {}, 'Started ', when(session.created_at),
       ', last seen ', when(session.last_seen_at)),
    contextDetails(session.context),
    el('button', { type: 'button', class: 'revoke',
                   'aria-label': `Revoke session ${session.id}`,
                   onclick: () => revoke(session.id).catch(hooks.failed) },
       'Revoke'));
}

// the services' context bag, as they wrote it; null: a damaged record
function contextDetails(context) {
  if (context === null) return el('p', {}, 'Context: unreadable');
  if (!Object.keys(context).length) return el('p', {}, 'Context: empty');
  return el('details', {},
    el('summary', {}, 'Context'),
    el('pre', {}, JSON.stringify(context, null, 2)));
}

async function revoke(id) {
  const confirmed = await preview('Revoke this session?', [
    `Session ${id} of customer ${customer} ends everywhere, on every channel.`,
    'Tokens that name it are refused from now on; the customer\'s next request '
    + 'starts a new session, without this one\'s context.',
  ], { confirmLabel: 'Revoke' });

  if (confirmed) {
    await api('DELETE', route('sessions', id));
    await hooks.changed(`Revoked session ${id}.`);
  }
}
