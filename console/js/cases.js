// The customer's cases, open ones first, with a countdown to each due time
// of an open case; one case's events, and the agent's actions on it: a
// note (public or internal) and a move of its lifecycle (docs/cases.md).

import { api, ApiError, route } from './api.js';
import { preview } from './confirm.js';
import { byId, el, show, when } from './dom.js';
import { pager } from './pager.js';

const PAGE = 100;

// the moves the API allows (docs/cases.md, Lifecycle); anything else is a
// 409, which the page still shows when the case moved meanwhile
const MOVES = {
  new: ['open', 'pending', 'on_hold', 'resolved'],
  open: ['pending', 'on_hold', 'resolved'],
  pending: ['open', 'on_hold', 'resolved'],
  on_hold: ['open', 'pending', 'resolved'],
  resolved: ['open', 'closed'],
  closed: [],
};
const OPEN = new Set(['new', 'open', 'pending', 'on_hold']);

// a case id: 10 digits, the last a check digit the server checks
export const CASE_ID = /^[0-9]{10}$/;

const list = byId('case-list');
const detail = byId('case-detail');
const events = byId('case-events');
const statusSelect = byId('case-status');

let customer = null;
let pages = null;
let hooks = null;
let shown = null;       // the case in the detail: its record
let reading = 0;

export function initCases(given) {
  hooks = given;
  pages = pager(byId('cases-more'), fetchPage, showPage, hooks.failed);
  byId('note-form').addEventListener('submit', (event) => {
    event.preventDefault();
    addNote().catch(failedAction);
  });
  byId('status-form').addEventListener('submit', (event) => {
    event.preventDefault();
    moveCase().catch(failedAction);
  });
  byId('case-close').addEventListener('click', closeCase);
  // the countdowns count on their own: no request, once a minute, and at
  // once when the tab is shown again (a hidden tab's timers are throttled)
  setInterval(tick, 60 * 1000);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible') tick();
  });
}

// a 409 says why the API refused, and the case is read again: the page
// shows where it is now, and the moves from there
function failedAction(error) {
  if (error instanceof ApiError && error.status === 409) {
    hooks.failed(new ApiError(409, error.code,
      `${error.message} (refused: the case is unchanged; shown again as it is now)`));
    if (customer) loadCases(customer).catch(hooks.failed);
  } else {
    hooks.failed(error);
  }
}

export async function loadCases(id) {
  if (id !== customer) closeCase();
  customer = id;
  list.replaceChildren();
  await pages.first();
  if (shown) await openCase(shown.id);
}

export function clearCases() {
  customer = null;
  closeCase();
  list.replaceChildren();
  byId('case-id').replaceChildren();
  byId('case-summary').replaceChildren();
}

function fetchPage(after) {
  return api('GET', route('customers', customer, 'cases'),
             { query: { after, limit: PAGE } });
}

function showPage(page) {
  list.append(...page.cases.map(caseItem));
  if (!list.children.length) {
    list.append(el('li', { class: 'empty' }, 'No case.'));
  }
}

function caseItem(c) {
  const open = OPEN.has(c.status);
  return el('li', { class: open ? 'case open' : 'case past',
                    data: { case: c.id, status: c.status } },
    el('p', {},
       el('code', { class: 'id' }, c.id), ' ',
       el('span', { class: 'subject' }, c.subject)),
    el('p', {},
       el('span', { class: `chip status ${c.status}` }, c.status), ' ',
       el('span', { class: 'category' }, c.category), ', priority ',
       el('span', { class: 'priority' }, c.priority)),
    dues(c, open),
    el('button', { type: 'button', class: 'open-case',
                   'aria-label': `Show case ${c.id}`,
                   onclick: () => openCase(c.id).catch(hooks.failed) },
       'Show'));
}

// the due times; for an open case, the time left to each still due
function dues(c, open) {
  const lines = [];
  if (c.first_response_due) {
    lines.push(el('p', { class: 'due first-response' }, 'First response due ',
      when(c.first_response_due),
      c.first_response_at ? [' (answered ', when(c.first_response_at), ')']
        : open ? [' ', countdown(c.first_response_due)] : []));
  }
  if (c.resolution_due) {
    lines.push(el('p', { class: 'due resolution' }, 'Resolution due ',
      when(c.resolution_due),
      open ? [' ', countdown(c.resolution_due)] : []));
  }
  if (!lines.length) lines.push(el('p', { class: 'due none' }, 'No due time.'));
  return lines;
}

function countdown(due) {
  const node = el('span', { class: 'countdown', data: { due } });
  render(node);
  return node;
}

// "2h 05m left", or "overdue by 3m"
function render(node) {
  const left = Date.parse(node.dataset.due) - Date.now();
  const minutes = Math.floor(Math.abs(left) / 60000);
  const d = Math.floor(minutes / 1440);
  const h = Math.floor((minutes % 1440) / 60);
  const m = minutes % 60;
  const span = minutes < 1 ? 'under a minute'
    : [d ? `${d}d` : '', d || h ? `${h}h` : '',
       `${String(m).padStart(d || h ? 2 : 1, '0')}m`].filter(Boolean).join(' ');
  node.classList.toggle('overdue', left < 0);
  node.textContent = left < 0 ? `overdue by ${span}` : `${span} left`;
}

function tick() {
  for (const node of document.querySelectorAll('.countdown')) render(node);
}

// the case, its events and what may be done with it
export async function openCase(id) {
  const read = ++reading;
  const c = await api('GET', route('cases', id));
  if (read !== reading) return;
  shown = c;
  byId('case-id').textContent = c.id;
  byId('case-summary').replaceChildren(
    el('span', { class: 'subject' }, c.subject), ': ',
    el('span', { class: `chip status ${c.status}` }, c.status),
    `, ${c.category}, priority ${c.priority}, opened on ${c.channel} `,
    when(c.created_at),
    c.follow_up_of ? ` (follows case ${c.follow_up_of})` : '');
  events.replaceChildren(...c.events.map(eventItem));

  const moves = MOVES[c.status] || [];
  statusSelect.replaceChildren(...moves.map((s) => el('option', { value: s }, s)));
  show(byId('status-form'), moves.length > 0);
  show(byId('note-form'), c.status !== 'closed');
  show(byId('case-final'), c.status === 'closed');
  for (const item of list.children) {
    item.classList.toggle('selected', item.dataset.case === c.id);
  }
  show(detail, true);
}

function closeCase() {
  reading += 1;
  shown = null;
  show(detail, false);
  events.replaceChildren();
  for (const item of list.children) item.classList.remove('selected');
}

const KINDS = {
  created: 'Opened',
  note: 'Public note',
  internal: 'Internal note',
  reply: 'Customer reply',
  status: 'Status',
  assign: 'Assigned',
};

function eventItem(e) {
  const what = e.kind === 'status' ? `${e.from} → ${e.to}`
    : e.kind === 'assign' ? [e.assignee ? `to ${e.assignee}` : '',
                             e.pool ? `pool ${e.pool}` : ''].filter(Boolean).join(', ')
    : e.text;
  return el('li', { class: `case-event ${e.kind}`, data: { kind: e.kind } },
    el('span', { class: 'kind' }, KINDS[e.kind] || e.kind), ' ',
    when(e.time), ` by ${e.author || 'the customer'} on ${e.channel}`,
    what ? el('p', { class: 'text' }, what) : null);
}

async function addNote() {
  const c = shown;
  const text = byId('note-text').value;
  const kind = byId('note-kind').value;
  if (!text.trim()) return;
  const internal = kind === 'internal';
  const confirmed = await preview(internal ? 'Add an internal note?' : 'Add a public note?', [
    `To case ${c.id} of customer ${c.customer}:`,
    el('q', {}, text),
    internal ? 'Internal: agents see it, the customer never does.'
      : 'Public: the customer sees it on every channel, and it counts as the first response.',
  ], { confirmLabel: 'Add the note' });
  if (!confirmed) return;
  await api('POST', route('cases', c.id, 'notes'), { body: { text, kind } });
  byId('note-text').value = '';
  await hooks.changed(`Added ${internal ? 'an internal' : 'a public'} note to case ${c.id}.`);
}

async function moveCase() {
  const c = shown;
  const to = statusSelect.value;
  const confirmed = await preview('Change the status?', [
    `Case ${c.id} goes from ${c.status} to ${to}.`,
    to === 'closed' ? 'A closed case never changes again; a reply of the customer opens a follow-up.'
      : `The customer sees the new status on every channel.`,
  ], { confirmLabel: `Move to ${to}` });
  if (!confirmed) return;
  await api('POST', route('cases', c.id, 'status'), { body: { status: to } });
  await hooks.changed(`Case ${c.id} is now ${to}.`);
}
