// The customer's identities, grouped by the channel that reports each
// type, with unlink and link, each previewed before it is made.

import { api, ApiError, route } from './api.js';
import { preview } from './confirm.js';
import { byId, el } from './dom.js';
import { pager } from './pager.js';

// Which channels report which identity types (docs/security.md, the
// channel table); a type not listed here is shown under its own name.
const CHANNELS_OF_TYPE = {
  jwt_sub: 'Signed-in account (web, app, mini-program)',
  device_id: 'App',
  wechat_openid: 'WeChat (mini-program, official account)',
  wechat_unionid: 'WeChat (mini-program)',
  wecom_userid: 'WeCom',
  wecom_external_userid: 'WeCom',
  phone: 'Phone (IVR, SMS)',
  email: 'E-mail',
};

const PAGE = 100;

const groups = byId('identity-groups');

let customer = null;
let pages = null;
let loaded = [];
let hooks = null;

// hooks: changed(message) after a change, failed(error) when one fails
export function initIdentities(given) {
  hooks = given;
  byId('identity-types').replaceChildren(
    ...Object.keys(CHANNELS_OF_TYPE).map((type) => el('option', { value: type })));
  pages = pager(byId('identities-more'), fetchPage, showPage, hooks.failed);
  byId('link-form').addEventListener('submit', (event) => {
    event.preventDefault();
    link(byId('link-type').value.trim(), byId('link-value').value.trim())
      .catch(hooks.failed);
  });
}

export function loadIdentities(id) {
  customer = id;
  loaded = [];
  return pages.first();
}

function fetchPage(after) {
  return api('GET', route('customers', customer, 'identities'),
             { query: { after, limit: PAGE } });
}

// the groups are drawn again with each page, which may add to any of them
function showPage(page) {
  loaded = loaded.concat(page.identities);
  render();
}

function render() {
  if (!loaded.length) {
    groups.replaceChildren(el('p', { class: 'empty' }, 'No identity is linked.'));
    return;
  }

  const byChannel = new Map();
  for (const identity of loaded) {
    const channel = CHANNELS_OF_TYPE[identity.type] || `Other: ${identity.type}`;
    if (!byChannel.has(channel)) byChannel.set(channel, []);
    byChannel.get(channel).push(identity);
  }

  groups.replaceChildren(...[...byChannel].map(([channel, identities]) =>
    el('section', { class: 'identity-group', data: { channel } },
       el('h4', {}, channel),
       el('ul', {}, identities.map(identityItem)))));
}

function identityItem(identity) {
  return el('li', { class: 'identity', data: { type: identity.type } },
    el('span', { class: 'type' }, identity.type), ' ',
    el('code', { class: 'value' }, identity.value), ' ',
    el('button', { type: 'button', class: 'unlink',
                   'aria-label': `Unlink ${identity.type} ${identity.value}`,
                   onclick: () => unlink(identity).catch(hooks.failed) },
       'Unlink'));
}

// Who holds the identity today: a customer id, or null when nobody does
async function holder(type, value) {
  try {
    return (await api('GET', route('identities', type, value))).customer;
  } catch (error) {
    if (error instanceof ApiError && error.status === 404) return null;
    throw error;
  }
}

async function unlink(identity) {
  const current = await holder(identity.type, identity.value);
  const what = `${identity.type} ${identity.value}`;
  const lines = current === customer
    ? [`${what} will be unlinked from customer ${customer}.`,
       'Requests that carry only this identity will no longer find this customer; '
       + 'a channel that creates customers will make a new one for it.',
       'Sessions and the journey stay as they are.']
    : [`${what} is no longer linked to customer ${customer} `
       + (current ? `(it is customer ${current}'s now).` : '(nobody holds it now).'),
       'Nothing to unlink.'];

  if (await preview('Unlink an identity?', lines,
                    { canProceed: current === customer, confirmLabel: 'Unlink' })) {
    await api('DELETE', route('identities', identity.type, identity.value));
    await hooks.changed(`Unlinked ${what}.`);
  }
}

async function link(type, value) {
  const current = await holder(type, value);
  const what = `${type} ${value}`;
  let lines;
  if (current === customer) {
    lines = [`${what} is linked to customer ${customer} already.`, 'Nothing will change.'];
  } else if (current) {
    lines = [`${what} belongs to customer ${current} today.`,
             `It will move to customer ${customer}: customer ${current} loses it, `
             + 'and requests that carry it will be this customer\'s.'];
  } else {
    lines = [`${what} is not linked to anyone.`,
             `It will be linked to customer ${customer}: requests that carry it `
             + 'will be this customer\'s.'];
  }

  if (await preview('Link an identity?', lines,
                    { canProceed: current !== customer, confirmLabel: 'Link' })) {
    await api('PUT', route('identities', type, value), { body: { customer } });
    byId('link-form').reset();
    await hooks.changed(`Linked ${what}.`);
  }
}
