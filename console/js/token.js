// The agent's token: in this module's memory, and in sessionStorage only
// when the agent asks to keep it for the tab.  It leaves the page in the
// Authorization header of API requests and nowhere else: never in a URL,
// never in localStorage, never written to the console.

const KEPT = 'omni-console-token';

let token = sessionStorage.getItem(KEPT);

export function currentToken() {
  return token;
}

export function setToken(value, keep) {
  token = value;
  if (keep) sessionStorage.setItem(KEPT, value);
  else sessionStorage.removeItem(KEPT);
}

export function forgetToken() {
  token = null;
  sessionStorage.removeItem(KEPT);
}

// The claims, for showing who is signed in.  Read, not verified: the
// gateway verifies the token on every request.
export function tokenClaims() {
  try {
    const payload = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    const bytes = Uint8Array.from(atob(payload), (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return {};
  }
}
