// The customer's journey as one timeline across channels, newest first,
// a page at a time with the API's cursor, marked where the customer went
// from one channel to another; an event the dispatch sent somewhere names
// the desk (pool) and the rule.

import { api, route } from './api.js';
import { byId, el, when } from './dom.js';
import { pager } from './pager.js';

const PAGE = 50;

const timeline = byId('timeline');

let customer = null;
let pages = null;
let newerChannel = null;    // of the oldest event shown so far

export function initJourney(hooks) {
  pages = pager(byId('journey-more'), fetchPage, showPage, hooks.failed);
}

export function loadJourney(id) {
  customer = id;
  newerChannel = null;
  timeline.replaceChildren();
  return pages.first();
}

function fetchPage(before) {
  return api('GET', route('customers', customer, 'journey'),
             { query: { before, limit: PAGE } });
}

function showPage(page) {
  for (const event of page.events) {
    // the events come newest first: the switch was from this older
    // event's channel to the newer one's
    if (newerChannel !== null && newerChannel !== event.channel) {
      timeline.append(el('li', { class: 'switch',
                                 data: { from: event.channel, to: newerChannel } },
        'Switched from ', el('strong', {}, event.channel),
        ' to ', el('strong', {}, newerChannel)));
    }
    timeline.append(eventItem(event));
    newerChannel = event.channel;
  }

  if (!timeline.children.length) {
    timeline.append(el('li', { class: 'empty' }, 'No journey event yet.'));
  }
}

function eventItem(event) {
  const ok = event.outcome === 'ok';
  return el('li', { class: 'event', data: { channel: event.channel } },
    when(event.time), ' ',
    el('span', { class: 'chip' }, event.channel), ' ',
    el('span', { class: 'action' }, event.action), ' ',
    el('span', { class: ok ? 'outcome ok' : 'outcome failed' }, event.outcome),
    event.dispatch ? el('span', { class: 'desk' }, ' to ',
                        el('strong', {}, event.dispatch.pool),
                        ` (rule ${event.dispatch.rule})`) : null,
    event.intent ? el('span', { class: 'intent' }, ' intent ',
                      el('code', {}, event.intent)) : null,
    event.session ? el('span', { class: 'in-session' }, ' session ',
                       el('code', {}, event.session)) : null);
}
