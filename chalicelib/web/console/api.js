// Talking to the staff API: the tokens (localStorage "replydesk.tokens", shared with the template
// editor page), refresh before expiry, and one fetch wrapper that sends the ID token.
//
// The page lives at <stage>/console/, the API at <stage>/api/: every URL is relative to the page, so the
// same files work under API Gateway's stage prefix and on the local server.

export const TOKENS_KEY = "replydesk.tokens";
const REFRESH_MARGIN_S = 120;

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export function apiUrl(path) {
  return new URL("../api/" + path.replace(/^\/+/, ""), document.baseURI).toString();
}

function b64urlJson(part) {
  const b64 = part.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const bytes = Uint8Array.from(bin, (c) => c.charCodeAt(0));
  return JSON.parse(new TextDecoder().decode(bytes));
}

/** The claims of a JWT, unverified: only to read `exp` and the name for display (the server verifies). */
export function claims(token) {
  try {
    return b64urlJson(String(token).split(".")[1]);
  } catch {
    return {};
  }
}

/** Cognito's answer in either spelling (IdToken / id_token) to our stored shape. */
export function normaliseTokens(answer, previous = {}) {
  const src = answer.tokens || answer.AuthenticationResult || answer;
  const id = src.id_token || src.IdToken || src.idToken;
  const access = src.access_token || src.AccessToken || src.accessToken;
  const refresh = src.refresh_token || src.RefreshToken || src.refreshToken || previous.refresh_token;
  if (!id) throw new ApiError(500, "BadAnswer", "the login answer holds no ID token");
  const exp = claims(id).exp;
  const expiresIn = Number(src.expires_in || src.ExpiresIn || 3600);
  return {
    id_token: id,
    access_token: access || null,
    refresh_token: refresh || null,
    expires_at: exp ? exp * 1000 : Date.now() + expiresIn * 1000,
  };
}

export function loadTokens() {
  try {
    const t = JSON.parse(localStorage.getItem(TOKENS_KEY) || "null");
    return t && t.id_token ? t : null;
  } catch {
    return null;
  }
}

export function saveTokens(tokens) {
  localStorage.setItem(TOKENS_KEY, JSON.stringify(tokens));
}

export function clearTokens() {
  localStorage.removeItem(TOKENS_KEY);
}

async function parse(resp) {
  const text = await resp.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { Message: text };
  }
}

async function raw(method, path, { body, headers = {}, token, keepalive = false } = {}) {
  const h = { Accept: "application/json", ...headers };
  if (body !== undefined) h["Content-Type"] = "application/json";
  if (token) h.Authorization = `Bearer ${token}`;
  // no-store: the list does its own revalidation with If-None-Match and must see a 304 itself.
  const resp = await fetch(apiUrl(path), {
    method,
    headers: h,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: "no-store",
    credentials: "omit",
    keepalive, // lets "left the conversation" reach the server while the tab closes
  });
  return resp;
}

async function publicCall(method, path, body) {
  const resp = await raw(method, path, { body });
  const data = await parse(resp);
  if (!resp.ok) throw new ApiError(resp.status, data && data.Code, data && (data.Message || data.message), data);
  return data;
}

export const auth = {
  config: () => publicCall("GET", "auth/config"),
  login: (username, password) => publicCall("POST", "auth/login", { username, password }),
  newPassword: (username, session, newPassword) =>
    publicCall("POST", "auth/password", { username, session, new_password: newPassword }),
  refresh: (refreshToken) => publicCall("POST", "auth/refresh", { refresh_token: refreshToken }),
  logout: (refreshToken) => publicCall("POST", "auth/logout", { refresh_token: refreshToken }),
};

let refreshing = null;
let onSignedOut = () => {};
let refreshTimer = null;

export function setSignedOutHandler(fn) {
  onSignedOut = fn;
}

export async function refreshNow() {
  const tokens = loadTokens();
  if (!tokens || !tokens.refresh_token) throw new ApiError(401, "NoRefreshToken", "please sign in again");
  if (!refreshing) {
    refreshing = auth
      .refresh(tokens.refresh_token)
      .then((answer) => {
        const next = normaliseTokens(answer, tokens);
        saveTokens(next);
        scheduleRefresh();
        return next;
      })
      .finally(() => {
        refreshing = null;
      });
  }
  return refreshing;
}

/** Refresh a little before the ID token expires, so a long shift never sees a 401. */
export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const tokens = loadTokens();
  if (!tokens || !tokens.refresh_token) return;
  const wait = Math.max(5_000, tokens.expires_at - Date.now() - REFRESH_MARGIN_S * 1000);
  refreshTimer = setTimeout(() => refreshNow().catch(() => onSignedOut("Your session ended. Please sign in again.")), wait);
}

export function stopRefresh() {
  clearTimeout(refreshTimer);
}

/** A staff API call with the ID token; one refresh and retry on 401; returns {status, data, etag}. */
export async function call(method, path, { body, headers, keepalive } = {}) {
  let tokens = loadTokens();
  if (!tokens) {
    onSignedOut("Please sign in.");
    throw new ApiError(401, "NotSignedIn", "please sign in");
  }
  if (tokens.expires_at - Date.now() < 10_000 && tokens.refresh_token) {
    tokens = await refreshNow().catch(() => tokens);
  }
  let resp = await raw(method, path, { body, headers, token: tokens.id_token, keepalive });
  if (resp.status === 401 && tokens.refresh_token) {
    try {
      tokens = await refreshNow();
      resp = await raw(method, path, { body, headers, token: tokens.id_token });
    } catch {
      /* fall through to the 401 below */
    }
  }
  if (resp.status === 304) return { status: 304, data: null, etag: resp.headers.get("ETag") };
  const data = await parse(resp);
  if (resp.status === 401) {
    onSignedOut((data && data.Message) || "Your session ended. Please sign in again.");
  }
  if (!resp.ok) {
    throw new ApiError(resp.status, data && data.Code, data && (data.Message || data.message), data);
  }
  return { status: resp.status, data, etag: resp.headers.get("ETag") };
}

export const get = (path, opts) => call("GET", path, opts).then((r) => r.data);
export const post = (path, body) => call("POST", path, { body }).then((r) => r.data);
export const patch = (path, body) => call("PATCH", path, { body }).then((r) => r.data);

export function uuid() {
  return crypto.randomUUID ? crypto.randomUUID() : ([1e7] + -1e3 + -4e3 + -8e3 + -1e11).replace(/[018]/g, (c) =>
    (c ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (c / 4)))).toString(16));
}
