// The admin JSON API, under "api/" next to the console's own URL (the
// location the deployment gives it: docs/console.md).

import { currentToken } from './token.js';

const base = new URL('api/', document.baseURI);

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }

  describe() {
    return this.status ? `${this.status} ${this.code}: ${this.message}`
                       : `${this.code}: ${this.message}`;
  }
}

// Path segments, each percent-encoded whole; "." and ".." too, which the
// browser would otherwise resolve as directories
export function route(...segments) {
  return segments.map((s) => {
    const encoded = encodeURIComponent(s);
    return encoded === '.' || encoded === '..'
      ? encoded.replace(/\./g, '%2E') : encoded;
  }).join('/');
}

export async function api(method, path, { query, body } = {}) {
  const url = new URL(path, base);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(name, value);
  }

  const headers = { Accept: 'application/json' };
  const token = currentToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  if (body !== undefined) headers['Content-Type'] = 'application/json';

  let response;
  try {
    response = await fetch(url, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
      redirect: 'error',
    });
  } catch {
    throw new ApiError(0, 'unreachable', 'the gateway did not answer');
  }

  const data = await response.json().catch(() => null);
  if (!response.ok) {
    throw new ApiError(response.status,
                       data && data.error ? data.error : `http_${response.status}`,
                       data && data.message ? data.message : response.statusText);
  }
  return data;
}
