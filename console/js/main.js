// The agent console: sign in with a token, find a customer by an identity
// or an id, and show the customer whole, a panel per kind of record.

import { api, ApiError, route } from './api.js';
import { CASE_ID, clearCases, initCases, loadCases, openCase } from './cases.js';
import { byId, show } from './dom.js';
import { initIdentities, loadIdentities } from './identities.js';
import { initJourney, loadJourney } from './journey.js';
import { initSessions, loadSessions } from './sessions.js';
import { currentToken, forgetToken, setToken, tokenClaims } from './token.js';

const notice = byId('notice');
const errorLine = byId('error');
const signInError = byId('sign-in-error');

let customer = null;
let searches = 0;

function report(message) {
  errorLine.textContent = message;
  show(errorLine, true);
}

function clearMessages() {
  notice.textContent = '';
  show(errorLine, false);
}

// Signing out leaves nothing of the customer in the page, and drops what
// a request still under way would bring.
function signedOut(message) {
  forgetToken();
  customer = null;
  searches += 1;
  for (const id of ['customer-id', 'customer-note', 'identity-groups',
                    'session-list', 'timeline']) {
    byId(id).replaceChildren();
  }
  clearCases();
  byId('search-form').reset();
  showSearchFields();
  clearMessages();
  show(byId('console'), false);
  show(byId('customer'), false);
  show(byId('signed-in'), false);
  show(byId('sign-in'), true);
  signInError.textContent = message || '';
  show(signInError, Boolean(message));
  byId('token').focus();
}

// A 401 means the token is no good any more (expired, revoked): the agent
// signs in again.  Anything else is shown where the agent is working.
function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    signedOut(`The gateway refused the token: ${error.describe()}`);
  } else {
    report(describe(error));
  }
}

function describe(error) {
  if (!(error instanceof ApiError)) return `Unexpected error: ${error.message}`;
  return error.status === 403 ? `Not allowed: ${error.describe()}` : error.describe();
}

async function showCustomer(id, note = '') {
  const search = ++searches;
  const record = await api('GET', route('customers', id), { query: { limit: 1 } });
  // the agent asked for another customer meanwhile
  if (search !== searches) return;
  const shown = record.survivor;
  customer = shown;
  byId('customer-id').textContent = shown;
  byId('customer-note').textContent = shown === id ? note
    : `${note}Customer ${id} was merged into ${shown}; this is ${shown}.`;
  await refresh();
  show(byId('customer'), true);
}

async function refresh() {
  await Promise.all([loadIdentities(customer), loadSessions(customer),
                     loadCases(customer), loadJourney(customer)]);
}

const hooks = {
  async changed(message) {
    clearMessages();
    await refresh();
    notice.textContent = message;
  },
  failed,
};

async function search() {
  clearMessages();
  const by = searchingBy();
  if (by === 'case') {
    const id = byId('search-case').value.replace(/[\s-]/g, '');
    if (!CASE_ID.test(id)) {
      report('Not a case id: a case id is 10 digits, the last a check digit.');
      return;
    }
    const found = await api('GET', route('cases', id));
    await showCustomer(found.customer, `Found by case ${id}. `);
    await openCase(id);
  } else if (by === 'identity') {
    const type = byId('search-type').value.trim();
    const value = byId('search-value').value.trim();
    const found = await api('GET', route('identities', type, value));
    await showCustomer(found.customer, `Found by ${type} ${value}. `);
  } else {
    await showCustomer(byId('search-customer').value.trim());
  }
}

async function signIn(token, keep) {
  setToken(token, keep);
  // any admin route checks the token and the role; stats is the cheapest
  await api('GET', 'stats');
  const claims = tokenClaims();
  byId('who').textContent = `Signed in as ${claims.sub || 'an unnamed subject'}`
    + (claims.exp ? `, token valid until ${new Date(claims.exp * 1000).toISOString()}` : '');
  show(byId('sign-in'), false);
  show(signInError, false);
  show(byId('signed-in'), true);
  show(byId('console'), true);
  byId('search-value').focus();
}

byId('token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId('token');
  const token = input.value.trim();
  input.value = '';
  signIn(token, byId('keep-token').checked).catch((error) =>
    signedOut(`The token was not accepted. ${describe(error)}`));
});

byId('sign-out').addEventListener('click', () => signedOut());

function searchingBy() {
  return byId('search-form').elements.by.value;
}

// the fields of the kind of search chosen
function showSearchFields() {
  const by = searchingBy();
  for (const kind of ['identity', 'customer', 'case']) {
    for (const node of document.querySelectorAll(`.by-${kind}`)) show(node, by === kind);
  }
}

byId('search-form').addEventListener('change', showSearchFields);

byId('search-form').addEventListener('submit', (event) => {
  event.preventDefault();
  search().catch((error) => {
    if (error instanceof ApiError && error.status === 404) {
      show(byId('customer'), false);
      report(`${searchingBy() === 'case' ? 'No case found' : 'No customer found'}: ${error.message}`);
    } else {
      failed(error);
    }
  });
});

initIdentities(hooks);
initSessions(hooks);
initCases(hooks);
initJourney(hooks);

if (currentToken()) {
  signIn(currentToken(), true).catch((error) =>
    signedOut(`The kept token is not accepted any more. ${describe(error)}`));
}
