// The staff console: login, views and queues, the conversation with its customer, the composer with
// the template library, search, presence, keyboard shortcuts and the staff panel. Plain ES modules,
// no build step. Customer data only ever enters the page through textContent (dom.js) or, for email
// HTML that the server sanitised, through the srcdoc of a fully sandboxed iframe.

import * as api from "./api.js";
import { loadBrief, openBrief, wireBrief } from "./brief.js";
import { $, $$, clear, fill, fmtDuration, fmtTime, h, show, words } from "./dom.js";
import { slaRemaining, slaState } from "./sla.js";
import { countSegments } from "./sms.js";

const LIST_POLL_MS = 5_000;
const QUEUES_POLL_MS = 15_000;
const PRESENCE_MS = 10_000;
const PAGE_SIZE = 50;
const STAFF_STATUS = { CONFIRMED: "active", FORCE_CHANGE_PASSWORD: "invited", RESET_REQUIRED: "password reset" };
const OTHER_ASSIGNEE = "\u0000other";
const CHANNEL_LABEL = { email: "mail", sms: "sms", web: "web" };
const VIEWS = [
  { view: "mine", label: "Mine" },
  { view: "unassigned", label: "Unassigned" },
  { view: "breached", label: "Breached" },
  { view: "mentions", label: "Mentions" },
];
// When this agent last opened "Mentions", per browser: newer mentions count as unread.
const MENTIONS_SEEN_KEY = "replydesk.mentionsSeen";

const state = {
  me: null,
  config: {},
  queues: [],
  route: { name: "list", view: "mine", queue: null },
  list: { key: "", items: [], etag: null, cursors: [null], page: 0, next: null, selected: 0 },
  conv: null,
  customer: null,
  composer: { mode: "reply", key: null, template: null, offer: null, sending: false },
  picker: { items: [], active: 0, chosen: null, open: false },
  mention: { items: [], active: 0, open: false },
  presenceState: "viewing",
  openHtml: new Set(),
  changing: Promise.resolve(true),
  staff: [],
  timers: {},
};

// ==================================================================== start and login

document.addEventListener("DOMContentLoaded", start);

async function start() {
  api.setSignedOutHandler(signedOut);
  wireLogin();
  wireApp();
  try {
    state.config = (await api.auth.config()) || {};
  } catch {
    state.config = {};
  }
  // The campaign's topics, languages, queues and SMS budget, written into the page by the server.
  try {
    state.config = { ...state.config, ...JSON.parse($("#campaign-data").textContent || "{}") };
  } catch {
    /* the page still works without them */
  }
  if (api.loadTokens()) {
    await enter();
  } else {
    showLogin();
  }
}

function showLogin(message = "") {
  stopTimers();
  show($("#app"), false);
  show($("#login"), true);
  $("#login-error").textContent = message;
  $("#login-username").focus();
}

let loginSession = null;

function wireLogin() {
  $("#login-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const err = $("#login-error");
    err.textContent = "";
    const username = $("#login-username").value.trim();
    const button = $("#login-submit");
    button.disabled = true;
    try {
      let answer;
      if (loginSession) {
        const p1 = $("#login-new-password").value;
        if (p1 !== $("#login-new-password2").value) throw new Error("The two new passwords differ.");
        answer = await api.auth.newPassword(username, loginSession, p1);
      } else {
        const password = $("#login-password").value;
        if (!username || !password) throw new Error("Enter your username and password.");
        answer = await api.auth.login(username, password);
      }
      if (answer && answer.challenge === "NEW_PASSWORD_REQUIRED") {
        loginSession = answer.session;
        show($("#login-credentials"), false);
        show($("#login-newpass"), true);
        button.textContent = "Set password and sign in";
        $("#login-new-password").focus();
        return;
      }
      if (answer && answer.challenge) throw new Error(`This sign-in needs ${answer.challenge}, which the console does not support.`);
      api.saveTokens(api.normaliseTokens(answer));
      loginSession = null;
      $("#login-password").value = "";
      await enter();
    } catch (e) {
      err.textContent = loginMessage(e);
    } finally {
      button.disabled = false;
    }
  });
}

function loginMessage(e) {
  if (e instanceof api.ApiError) {
    if (e.status === 401 || e.status === 400 || e.status === 403) {
      return e.message && !/^HTTP/.test(e.message) ? e.message : "Wrong username or password.";
    }
    if (e.status === 429) return "Too many attempts. Wait a minute and try again.";
    return `The sign-in failed (${e.status}). Try again.`;
  }
  return e.message || String(e);
}

async function enter() {
  try {
    state.me = await api.get("me");
  } catch (e) {
    if (e.status === 401) return; // signedOut() already showed the login
    showLogin(`Could not load your profile: ${e.message}`);
    return;
  }
  // The campaign facts the page shows (brand, topics, languages, SMS budget) come with /api/me.
  if (state.me.campaign) state.config = { ...state.config, ...state.me.campaign };
  api.scheduleRefresh();
  show($("#login"), false);
  show($("#app"), true);
  const me = state.me;
  fill($("#me"), h("strong", {}, me.name || me.username), " ", h("span", { class: "muted small" }, roles().join(", ")));
  $("#campaign").textContent = [state.config.brand, state.config.name].filter(Boolean).join(" · ");
  show($("#admin-nav"), hasRole("admin"));
  renderViews();
  // Colleagues for @mention completion and assignment (an admin's list is the Staff page's, with roles).
  (hasRole("admin") ? loadStaff() : loadColleagues()).catch(() => {});
  loadBrief().catch(() => {});
  await loadQueues();
  if (!location.hash || location.hash === "#" || location.hash === "#/") location.hash = "#/view/mine";
  else route();
  state.timers.queues = setInterval(() => loadQueues().catch(() => {}), QUEUES_POLL_MS);
  state.timers.tick = setInterval(tickBadges, 1000);
}

function signedOut(message) {
  api.stopRefresh();
  api.clearTokens();
  state.me = null;
  showLogin(message);
}

async function signOut() {
  const tokens = api.loadTokens();
  await leavePresence();
  try {
    if (tokens && tokens.refresh_token) await api.auth.logout(tokens.refresh_token);
  } catch {
    /* the tokens are dropped anyway */
  }
  signedOut("Signed out.");
}

function stopTimers() {
  for (const t of Object.values(state.timers)) clearInterval(t);
  state.timers = {};
}

function roles() {
  const me = state.me || {};
  return (me.roles || me.groups || []).map(String);
}

function hasRole(role) {
  const rank = { agent: 1, supervisor: 2, admin: 3 };
  return roles().some((r) => (rank[r] || 0) >= rank[role]);
}

function myName() {
  return state.me ? state.me.username : "";
}

// ==================================================================== routing

function wireApp() {
  window.addEventListener("hashchange", route);
  $("#signout").addEventListener("click", signOut);
  $("#help-button").addEventListener("click", () => toggleCheatsheet());
  $("#back").addEventListener("click", () => backToList());
  $("#list-next").addEventListener("click", () => pageList(+1));
  $("#list-prev").addEventListener("click", () => pageList(-1));
  $("#cheatsheet").addEventListener("click", () => toggleCheatsheet(false));
  document.addEventListener("keydown", onKey);
  wireSearch();
  wireActions();
  wireComposer();
  wireStaff();
  wireBrief();
  window.addEventListener("pagehide", () => {
    if (state.conv) leavePresence();
  });
}

function route() {
  if (!state.me) return;
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const [kind, arg] = parts;
  if (kind !== "c") leaveConversation();
  for (const id of ["#list-view", "#conv-view", "#customer-view", "#staff-view"]) show($(id), false);
  if (kind === "c" && arg) {
    openConversation(arg);
  } else if (kind === "customer" && arg) {
    openCustomerPage(arg);
  } else if (kind === "staff" && hasRole("admin")) {
    openStaff();
  } else if (kind === "queue" && arg) {
    openList({ view: "queue", queue: arg });
  } else {
    openList({ view: VIEWS.some((v) => v.view === arg) ? arg : "mine", queue: null });
  }
  markNav();
}

function markNav() {
  const r = state.route;
  for (const a of $$(".navlist a")) {
    const on =
      (r.name === "list" && r.view !== "queue" && a.dataset.view === r.view) ||
      (r.name === "list" && r.view === "queue" && a.dataset.queue === r.queue) ||
      (r.name === "staff" && a.dataset.nav === "staff");
    a.classList.toggle("active", on);
  }
}

// ==================================================================== sidebar: views and queues

function renderViews() {
  fill(
    $("#views"),
    VIEWS.map((v) =>
      h("li", {}, h("a", { href: `#/view/${v.view}`, dataset: { view: v.view } }, v.label, h("span", { class: "count", id: `count-${v.view}` })))
    )
  );
}

async function loadQueues() {
  const queues = await api.get("queues");
  state.queues = Array.isArray(queues) ? queues : queues.items || queues.queues || [];
  let breached = 0;
  let unassigned = 0;
  fill(
    $("#queues"),
    state.queues.map((q) => {
      breached += Number(q.breached || 0);
      unassigned += Number(q.unassigned || 0);
      return h(
        "li",
        {},
        h(
          "a",
          { href: `#/queue/${encodeURIComponent(q.queue)}`, dataset: { queue: q.queue }, title: `${q.open || 0} open, ${q.breached || 0} breached, ${q.unassigned || 0} unassigned${q.as_of ? ` (counted ${fmtTime(q.as_of)})` : ""}` },
          q.label || q.queue,
          q.breached ? h("span", { class: "count breached" }, String(q.breached)) : null,
          h("span", { class: "count" }, String(q.open || 0))
        )
      );
    })
  );
  const setCount = (id, n, cls) => {
    const el = $(`#count-${id}`);
    if (el) {
      el.textContent = n ? String(n) : "";
      el.className = `count ${n && cls ? cls : ""}`;
    }
  };
  setCount("breached", breached, "breached");
  setCount("unassigned", unassigned);
  loadMentions()
    .then((rows) => setCount("mentions", unreadMentions(rows), "unread"))
    .catch(() => {});
  fillSelect($("#act-queue"), state.queues.map((q) => [q.queue, q.label || q.queue]));
  fillSelect($("#picker-topic"), [["", "any topic"], ...topics().map((t) => [t.id, t.label || t.id])]);
  markNav();
}

async function loadMentions() {
  const data = await api.get("mentions");
  return (data && data.conversations) || [];
}

function mentionsSeenAt() {
  return localStorage.getItem(`${MENTIONS_SEEN_KEY}.${(state.me && state.me.username) || ""}`) || "";
}

function unreadMentions(rows) {
  const seen = mentionsSeenAt();
  return rows.filter((r) => (r.mentioned_at || "") > seen).length;
}

function markMentionsSeen(rows) {
  const newest = rows.reduce((m, r) => ((r.mentioned_at || "") > m ? r.mentioned_at : m), mentionsSeenAt());
  localStorage.setItem(`${MENTIONS_SEEN_KEY}.${(state.me && state.me.username) || ""}`, newest);
  const el = $("#count-mentions");
  if (el) {
    el.textContent = "";
    el.className = "count";
  }
}

function topics() {
  return (state.config.topics || []).map((t) => (typeof t === "string" ? { id: t } : t));
}

function fillSelect(sel, options) {
  const value = sel.value;
  fill(sel, options.map(([v, label]) => h("option", { value: v }, label)));
  if (options.some(([v]) => v === value)) sel.value = value;
}

// ==================================================================== the list

function listKey(r) {
  return `${r.view}|${r.queue || ""}`;
}

function openList(r) {
  const key = listKey(r);
  state.route = { name: "list", ...r };
  if (state.list.key !== key) {
    state.list = { key, items: [], etag: null, cursors: [null], page: 0, next: null, selected: 0 };
    clear($("#list-body"));
  }
  const queue = state.queues.find((q) => q.queue === r.queue);
  $("#list-title").textContent = r.view === "queue" ? (queue && queue.label) || r.queue : VIEWS.find((v) => v.view === r.view).label;
  show($("#list-view"), true);
  loadList().catch(() => {});
  clearInterval(state.timers.list);
  state.timers.list = setInterval(() => loadList().catch(() => {}), LIST_POLL_MS);
}

function listPath(r, cursor) {
  const q = new URLSearchParams({ view: r.view, limit: String(PAGE_SIZE) });
  if (r.queue) q.set("queue", r.queue);
  if (cursor) q.set("cursor", cursor);
  return `conversations?${q}`;
}

async function loadList() {
  const r = state.route.name === "list" ? state.route : state.listRoute;
  if (!r) return;
  const key = listKey(r);
  const cursor = state.list.cursors[state.list.page];
  const headers = state.list.etag ? { "If-None-Match": state.list.etag } : {};
  let answer;
  try {
    if (r.view === "mentions") {
      // Notes that @mention this agent, newest first (one page: the API returns the latest ones).
      const rows = await loadMentions();
      answer = { status: 200, data: { items: rows } };
      markMentionsSeen(rows);
    } else {
      answer = await api.call("GET", listPath(r, cursor), { headers });
    }
    $("#list-error").textContent = "";
    $("#poll-state").textContent = "live";
  } catch (e) {
    $("#poll-state").textContent = "offline";
    if (state.route.name === "list") $("#list-error").textContent = `Could not load the list: ${e.message}`;
    throw e;
  }
  if (listKey(r) !== key || state.list.key !== key) return;
  if (answer.status === 304) return;
  const data = answer.data || {};
  state.list.items = data.items || [];
  state.list.next = data.next_cursor || null;
  state.list.etag = answer.etag;
  state.listRoute = r;
  if (state.list.selected >= state.list.items.length) state.list.selected = Math.max(0, state.list.items.length - 1);
  renderList();
}

function pageList(delta) {
  const l = state.list;
  if (delta > 0 && l.next) {
    l.cursors[l.page + 1] = l.next;
    l.page += 1;
  } else if (delta < 0 && l.page > 0) {
    l.page -= 1;
  } else return;
  l.etag = null;
  l.selected = 0;
  loadList().catch(() => {});
}

function renderList() {
  const l = state.list;
  const body = $("#list-body");
  fill(
    body,
    l.items.map((row, i) =>
      h(
        "tr",
        {
          class: `row ${i === l.selected ? "selected" : ""} ${row.sla && slaState(row.sla) === "breached" ? "is-breached" : ""}`,
          dataset: { id: row.conversation_id, index: String(i) },
          onclick: () => {
            l.selected = i;
            location.hash = `#/c/${encodeURIComponent(row.conversation_id)}`;
          },
        },
        h("td", { class: "ref" }, row.reference || row.conversation_id),
        h("td", { class: "customer-cell" }, (row.customer && (row.customer.name || row.customer.contact || row.customer.customer_id)) || ""),
        h("td", {}, channelPill(row.channel)),
        h("td", {}, words(row.topic)),
        h("td", { class: "lang" }, row.language || ""),
        h("td", {}, urgencyBadge(row.urgency)),
        h("td", {}, statusBadge(row.status)),
        h("td", { class: row.assignee ? "" : "muted" }, row.assignee || "—"),
        h("td", {}, slaBadge(row.sla)),
        h("td", { class: "viewers-cell" }, viewerDots(row.viewers))
      )
    )
  );
  show($("#list-empty"), l.items.length === 0);
  $("#list-count").textContent = `${l.items.length}${l.next ? "+" : ""} · page ${l.page + 1}`;
  $("#list-prev").disabled = l.page === 0;
  $("#list-next").disabled = !l.next;
}

function selectRow(delta) {
  const l = state.list;
  if (!l.items.length) return;
  l.selected = Math.min(l.items.length - 1, Math.max(0, l.selected + delta));
  for (const tr of $$("#list-body tr")) tr.classList.toggle("selected", Number(tr.dataset.index) === l.selected);
  const tr = $(`#list-body tr[data-index="${l.selected}"]`);
  if (tr) tr.scrollIntoView({ block: "nearest" });
}

function backToList() {
  const r = state.listRoute || { view: "mine" };
  location.hash = r.view === "queue" ? `#/queue/${encodeURIComponent(r.queue)}` : `#/view/${r.view}`;
}

// ------------------------------------------------------------------ badges

function slaBadge(sla) {
  if (!sla || sla.state === "none" || (!sla.due && typeof sla.remaining_seconds !== "number")) return h("span", { class: "muted" }, "—");
  const el = h("span", {
    class: "sla",
    dataset: { due: sla.due || "", total: String(sla.total_seconds || ""), kind: sla.kind || "", state: sla.state || "" },
  });
  paintSla(el, sla);
  return el;
}

function paintSla(el, sla) {
  const left = slaRemaining(sla);
  const st = slaState(sla);
  el.className = `sla sla-${st}`;
  el.textContent = st === "paused" ? "paused" : left === null ? st : fmtDuration(left);
  const kind = sla.kind === "first_response" ? "first response" : words(sla.kind || "deadline");
  el.title = `${kind} due ${sla.due ? new Date(sla.due).toLocaleString() : ""}${st === "breached" ? " (breached)" : st === "paused" ? " (clock paused: waiting for the customer)" : ""}`;
}

function tickBadges() {
  for (const el of $$(".sla[data-due]")) {
    if (!el.dataset.due) continue;
    paintSla(el, { due: el.dataset.due, total_seconds: Number(el.dataset.total) || 0, kind: el.dataset.kind, state: el.dataset.state });
  }
}

function channelPill(ch) {
  return ch ? h("span", { class: `channel ch-${ch}`, title: ch }, CHANNEL_LABEL[ch] || ch) : "";
}

function urgencyBadge(u) {
  return h("span", { class: `badge urg-${u || "normal"}` }, u || "normal");
}

function statusBadge(s) {
  return h("span", { class: `badge st-${s || "new"}` }, words(s || "new"));
}

function viewerDots(viewers) {
  const others = (viewers || []).filter((v) => v.username !== myName());
  return others.map((v) =>
    h("span", { class: `avatar ${v.state === "composing" ? "composing" : ""}`, title: `${v.name || v.username} ${v.state || "viewing"}` }, initials(v.name || v.username))
  );
}

function initials(name) {
  return String(name || "?")
    .split(/[\s._@-]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((p) => p[0].toUpperCase())
    .join("");
}

// ==================================================================== the conversation

async function openConversation(id) {
  state.route = { name: "conv", id };
  show($("#conv-view"), true);
  if (!state.conv || state.conv.conversation_id !== id) {
    fill($("#timeline"), h("li", { class: "muted" }, "Loading…"));
    clear($("#customer"));
    resetComposer();
  }
  try {
    await loadConversation(id);
  } catch (e) {
    fill($("#timeline"), h("li", { class: "error" }, `Could not open ${id}: ${e.message}`));
    return;
  }
  startPresence();
  const idx = state.list.items.findIndex((r) => r.conversation_id === id);
  if (idx >= 0) state.list.selected = idx;
}

async function loadConversation(id) {
  const conv = await api.get(`conversations/${encodeURIComponent(id)}`);
  if (state.route.name !== "conv" || state.route.id !== id) return;
  // Each conversation opens with the resolution message on (where the campaign has one for its channel).
  if (!state.conv || state.conv.conversation_id !== id) $("#act-resolution-msg").checked = true;
  state.conv = conv;
  renderConversation();
  const customerId = conv.customer_id || (conv.customer && conv.customer.customer_id);
  if (customerId) loadCustomer(customerId).catch((e) => fill($("#customer"), h("p", { class: "error" }, e.message)));
  if (isReturns(conv)) loadOffers(id).catch(() => {});
  else show($("#retention"), false);
}

/** What a re-render would change: the version, the status and how many entries the timeline has. */
function convSignature(c) {
  return JSON.stringify([c.version, c.status, c.assignee, c.updated_at, (c.timeline || []).length, (c.messages || []).length]);
}

/** Live refresh of the open conversation (a customer's answer, a colleague's note): re-drawn only when it
 * changed, and never while the agent is choosing in one of its boxes. */
async function refreshConversation() {
  const c = state.conv;
  if (!c || state.route.name !== "conv") return;
  const fresh = await api.get(`conversations/${encodeURIComponent(c.conversation_id)}`);
  if (!state.conv || state.conv.conversation_id !== c.conversation_id) return;
  if (convSignature(fresh) === convSignature(state.conv)) return;
  if (document.activeElement && document.activeElement.closest && document.activeElement.closest(".side-conv")) return;
  const ol = $("#timeline");
  const atBottom = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  const top = ol.scrollTop;
  state.conv = fresh;
  renderConversation();
  if (!atBottom) ol.scrollTop = top; // an agent reading further up keeps their place
}

function renderConversation() {
  const c = state.conv;
  $("#conv-title").textContent = c.subject || words(c.topic) || "(no subject)";
  $("#conv-ref").textContent = c.reference || c.conversation_id;
  fill($("#conv-sla"), slaBadge(c.sla || currentDeadline(c)));
  renderViewers(c.viewers);
  show($("#resolution-msg"), !!(c.resolution_message && c.resolution_message.available) && !["resolved", "closed"].includes(c.status));
  $("#act-status").value = ["new", "open", "pending_customer", "resolved", "closed"].includes(c.status) ? c.status : "open";
  fillAssignees(c.assignee);
  if (c.queue) {
    if (![...$("#act-queue").options].some((o) => o.value === c.queue)) $("#act-queue").append(h("option", { value: c.queue }, c.queue));
    $("#act-queue").value = c.queue;
  }
  $("#act-urgency").value = c.urgency || "normal";
  const topicOpts = topics().map((t) => [t.id, t.label || t.id]);
  if (c.topic && !topicOpts.some(([v]) => v === c.topic)) topicOpts.push([c.topic, words(c.topic)]);
  fillSelect($("#act-topic"), topicOpts);
  $("#act-topic").value = c.topic || "";
  renderFacts(c);
  renderTimeline(c);
  updateComposerChannel();
}

function currentDeadline(c) {
  const due = c.first_response_at ? c.resolution_due : c.first_response_due || c.resolution_due;
  if (!due) return null;
  return { kind: c.first_response_at ? "resolution" : "first_response", due };
}

function fillAssignees(current) {
  const sel = $("#act-assignee");
  const names = new Map([["", "— unassigned —"], [myName(), `${myName()} (me)`]]);
  for (const s of state.staff) names.set(s.username, s.name ? `${s.username} (${s.name})` : s.username);
  if (current && !names.has(current)) names.set(current, current);
  // A supervisor may hand the conversation to anyone, also without the admin's staff list.
  if (hasRole("supervisor")) names.set(OTHER_ASSIGNEE, "someone else…");
  fill(sel, [...names].map(([v, label]) => h("option", { value: v }, label)));
  sel.value = current || "";
  // An agent takes or releases; reassigning someone else's conversation is a supervisor's call.
  sel.disabled = !hasRole("supervisor") && !!current && current !== myName();
}

function renderFacts(c) {
  const cls = c.classification || {};
  const reasons = c.reasons || cls.reasons || [];
  const facts = [
    ["Channel", channelPill(c.channel)],
    ["Status", statusBadge(c.status)],
    ["Classified", words(cls.topic || c.topic)],
    ["Language", cls.language || c.language || "—"],
    ["Urgency", urgencyBadge(cls.urgency || c.urgency)],
    ["Sentiment", cls.sentiment || c.sentiment || "—"],
    ["1st reply", c.first_response_at ? `answered ${fmtTime(c.first_response_at)}` : c.first_response_due ? `due ${fmtTime(c.first_response_due)}` : "—"],
    ["Resolution", c.resolution_due ? `due ${fmtTime(c.resolution_due)}` : "—"],
  ];
  if (c.csat) facts.push(["Rating", typeof c.csat === "object" ? c.csat.rating || JSON.stringify(c.csat) : c.csat]);
  if (c.retention) facts.push(["Retention", typeof c.retention === "object" ? [c.retention.outcome, c.retention.offer_id].filter(Boolean).join(" · ") : c.retention]);
  fill(
    $("#conv-facts"),
    h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", {}, v)])),
    reasons.length ? h("div", { class: "reasons" }, h("span", { class: "muted small" }, "Why: "), reasons.map((r) => h("span", { class: "reason" }, String(r)))) : null
  );
}

/** Messages and events in one list, oldest first (newest at the bottom, as agents read a thread). */
function timelineEntries(c) {
  const entries = [...(c.timeline || [])];
  if (Array.isArray(c.messages) && !entries.some(isMessage)) entries.push(...c.messages.map((m) => ({ ...m, kind: m.kind || "message" })));
  const at = (e) => Date.parse(e.at || e.created_at || "") || 0;
  return entries.map((e, i) => [e, i]).sort((a, b) => at(a[0]) - at(b[0]) || a[1] - b[1]).map(([e]) => e);
}

function isMessage(e) {
  return e.direction !== undefined || e.kind === "message" || e.kind === "note" || e.text !== undefined || e.html !== undefined;
}

function renderTimeline(c) {
  const ol = $("#timeline");
  const entries = timelineEntries(c);
  fill(ol, entries.map((e) => (isMessage(e) ? messageItem(e) : eventItem(e))));
  if (!entries.length) ol.append(h("li", { class: "muted" }, "No messages yet."));
  ol.scrollTop = ol.scrollHeight;
}

function messageItem(m) {
  const dir = m.kind === "note" || m.direction === "note" ? "note" : m.direction === "out" ? "out" : "in";
  const who =
    dir === "in"
      ? m.sender_name || m.sender || (state.customer && state.customer.name) || "Customer"
      : dir === "note"
        ? `${m.author || m.sent_by || "staff"} · internal note`
        : m.ack
          ? "automatic acknowledgement"
          : m.kind === "follow_up" || m.follow_up
            ? "follow-up"
            : m.sent_by || m.author || "staff";
  const tags = [];
  if (m.template_id) tags.push(`template ${m.template_id} v${m.template_version || "?"} ${m.template_language || ""}`);
  if (m.suppressed_reason) tags.push(`not sent: ${words(m.suppressed_reason)}`);
  if (m.segments) tags.push(`${m.segments} SMS segment${m.segments > 1 ? "s" : ""}`);
  const li = h(
    "li",
    { class: `msg msg-${dir}${m.ack ? " msg-ack" : ""}` },
    h(
      "div",
      { class: "msg-head" },
      channelPill(m.channel),
      h("strong", { class: dir === "in" ? "who-in" : "" }, who),
      h("span", { class: "muted small" }, fmtTime(m.at || m.created_at)),
      tags.map((t) => h("span", { class: "tag small" }, t))
    ),
    m.subject ? h("div", { class: "msg-subject" }, m.subject) : null,
    h("div", { class: "msg-body" }, m.new_text || m.text || "")
  );
  if (m.html) {
    // Which originals are open survives a re-render of the timeline (after a reply, a reload, a 409).
    const key = m.message_id || `${m.at || m.created_at}|${m.subject || ""}`;
    const holder = h("div", { class: "msg-html" });
    const button = h("button", { type: "button", class: "ghost small show-html" });
    const paint = () => {
      const open = state.openHtml.has(key);
      button.textContent = open ? "Hide original email" : "Show original email (HTML)";
      if (open && !holder.firstChild) holder.append(emailFrame(m.html));
      if (!open) clear(holder);
    };
    button.addEventListener("click", () => {
      if (state.openHtml.has(key)) state.openHtml.delete(key);
      else state.openHtml.add(key);
      paint();
    });
    paint();
    li.append(button, holder);
  }
  return li;
}

/** Server-sanitised email HTML in a frame with every sandbox restriction (no scripts, opaque origin). */
function emailFrame(html) {
  const frame = document.createElement("iframe");
  frame.setAttribute("sandbox", "");
  frame.setAttribute("referrerpolicy", "no-referrer");
  frame.setAttribute("title", "Original email");
  frame.className = "email-frame";
  frame.srcdoc = html;
  return frame;
}

const EVENT_LABEL = {
  ack: "acknowledgement sent",
  ack_sent: "acknowledgement sent",
  follow_up: "follow-up sent",
  breach: "SLA breached",
  status: "status changed",
  assigned: "assigned",
  callback: "call-back requested",
  callback_requested: "call-back requested",
};

function eventItem(e) {
  const kind = e.kind || e.type || "event";
  const detail = e.detail || e.text || "";
  const extra = [e.by || e.actor || e.sent_by, e.from && e.to ? `${words(e.from)} → ${words(e.to)}` : null].filter(Boolean).join(" · ");
  return h(
    "li",
    { class: `event ev-${kind.replace(/[^a-z0-9_-]/gi, "")}${/breach|escalat/.test(kind) || /overdue|late/.test(String(detail)) ? " ev-bad" : ""}` },
    h("span", { class: "muted small" }, fmtTime(e.at || e.created_at)),
    " ",
    h("strong", {}, EVENT_LABEL[kind] || words(kind)),
    detail ? [" ", h("span", {}, typeof detail === "string" ? detail : JSON.stringify(detail))] : null,
    extra ? [" ", h("span", { class: "muted" }, extra)] : null
  );
}

function renderViewers(viewers) {
  const others = (viewers || []).filter((v) => v.username !== myName());
  fill(
    $("#conv-viewers"),
    others.length
      ? [
          h("span", { class: "muted small" }, "Also here: "),
          others.map((v) =>
            h("span", { class: `viewer ${v.state === "composing" ? "composing" : ""}` }, `${v.name || v.username}${v.state === "composing" ? " is replying…" : " is viewing"}`)
          ),
        ]
      : []
  );
}

// ------------------------------------------------------------------ customer

async function loadCustomer(id) {
  const cust = await api.get(`customers/${encodeURIComponent(id)}`);
  state.customer = cust;
  fill($("#customer"), customerPanel(cust, state.conv && state.conv.conversation_id));
  const name = (cust.customer || cust).name;
  if (name) for (const el of $$("#timeline .who-in")) el.textContent = name;
  return cust;
}

function customerPanel(cust, currentId) {
  const c = cust.customer || cust;
  const identities = cust.identities || c.identities || [];
  const tags = cust.tags || c.tags || [];
  const convs = cust.conversations || cust.previous_conversations || [];
  const orders = cust.order_references || cust.orders || [];
  const optOut = cust.marketing_opt_out ?? c.marketing_opt_out;
  return [
    h("h2", {}, c.name || "(no name)"),
    h("div", { class: "tags" }, tags.map((t) => h("span", { class: `tag ${/vip/i.test(t) ? "tag-vip" : ""}` }, t))),
    h(
      "dl",
      { class: "kv" },
      h("dt", {}, "Identities"),
      h("dd", {}, h("ul", { class: "identities" }, identities.map((i) => h("li", {}, identityLabel(i))))),
      h("dt", {}, "Language"),
      h("dd", {}, c.language || cust.language || "—"),
      h("dt", {}, "Marketing"),
      h("dd", { class: optOut ? "" : "ok" }, optOut ? "opted out" : "may receive offers"),
      orders.length ? [h("dt", {}, "Orders"), h("dd", {}, orders.map((o) => h("span", { class: "tag" }, typeof o === "string" ? o : o.reference || JSON.stringify(o))))] : null
    ),
    h("h3", {}, `Conversations (${convs.length})`),
    h(
      "ul",
      { class: "history" },
      convs.map((cv) =>
        h(
          "li",
          { class: cv.conversation_id === currentId ? "current" : "" },
          h(
            "a",
            { href: `#/c/${encodeURIComponent(cv.conversation_id)}` },
            channelPill(cv.channel),
            h("span", { class: "ref" }, cv.reference || cv.conversation_id),
            statusBadge(cv.status),
            h("span", { class: "muted small" }, words(cv.topic)),
            h("span", { class: "muted small when" }, fmtTime(cv.updated_at || cv.created_at))
          ),
          cv.subject ? h("div", { class: "small subject" }, cv.subject) : null
        )
      )
    ),
    currentId === null ? null : h("p", {}, h("a", { href: `#/customer/${encodeURIComponent(c.customer_id || cust.customer_id)}`, class: "small" }, "Open the customer")),
  ];
}

function identityParts(i) {
  if (i && typeof i === "object") return [i.kind || "", i.value || i.identity || ""];
  const s = String(i);
  return s.includes("#") ? s.split(/#(.*)/s).slice(0, 2) : ["", s];
}

function identityLabel(i) {
  const [kind, value] = identityParts(i);
  return [h("span", { class: "muted small" }, kind === "phone" ? "☎ " : kind === "email" ? "✉ " : ""), value];
}

async function openCustomerPage(id) {
  state.route = { name: "customer", id };
  const view = $("#customer-view");
  show(view, true);
  fill(view, h("p", { class: "muted" }, "Loading…"));
  try {
    const cust = await api.get(`customers/${encodeURIComponent(id)}`);
    fill(
      view,
      h("button", { type: "button", class: "ghost", onclick: () => history.back() }, "‹ Back"),
      h("div", { class: "customer wide" }, customerPanel(cust, null)),
      hasRole("supervisor") ? mergePanel(cust.customer_id || id) : null
    );
  } catch (e) {
    fill(view, h("p", { class: "error" }, `Could not open the customer: ${e.message}`));
  }
}

/** Supervisors join a duplicate into this customer: found by email, phone or name, then confirmed. */
function mergePanel(keepId) {
  const input = h("input", { id: "merge-q", placeholder: "email, phone or name of the duplicate", autocomplete: "off" });
  const found = h("div", { id: "merge-found", class: "merge-found" });
  const err = h("div", { id: "merge-error", class: "error small", role: "alert" });
  const find = async () => {
    err.textContent = "";
    clear(found);
    const q = input.value.trim();
    if (q.length < 2) return;
    try {
      const r = await api.get(`search?${new URLSearchParams({ q })}`);
      const ids = new Map();
      for (const c of r.customers || []) ids.set(c.customer_id, c.name || c.customer_id);
      for (const c of r.conversations || []) if (c.customer_id && !ids.has(c.customer_id)) ids.set(c.customer_id, c.customer_id);
      ids.delete(keepId);
      if (!ids.size) found.append(h("span", { class: "muted small" }, "No other customer found."));
      for (const [cid, label] of ids) {
        found.append(
          h(
            "div",
            { class: "merge-row" },
            h("a", { href: `#/customer/${encodeURIComponent(cid)}` }, label),
            " ",
            h("span", { class: "muted small" }, cid),
            " ",
            h("button", { type: "button", class: "small", dataset: { merge: cid }, onclick: (e) => confirmMerge(e.target, cid, label) }, "Merge into this customer")
          )
        );
      }
    } catch (e) {
      err.textContent = `Search failed: ${e.message}`;
    }
  };
  // A second click confirms: no dialog, and nothing is merged by one stray click.
  const confirmMerge = async (button, mergeId, label) => {
    if (button.dataset.armed !== "yes") {
      button.dataset.armed = "yes";
      button.textContent = `Click again: move ${label}'s identities and history here`;
      button.classList.add("primary");
      return;
    }
    button.disabled = true;
    try {
      await api.post("customers/merge", { keep: keepId, merge: mergeId });
      openCustomerPage(keepId);
    } catch (e) {
      err.textContent = `Not merged: ${e.message}`;
      button.disabled = false;
    }
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") {
      e.preventDefault();
      find();
    }
  });
  return h(
    "section",
    { class: "merge customer wide" },
    h("h3", {}, "Merge a duplicate into this customer"),
    h("p", { class: "muted small" }, "The duplicate's identities and conversations move here; the merge is audited."),
    h("div", { class: "inline-form" }, input, h("button", { type: "button", onclick: find }, "Find")),
    found,
    err
  );
}

// ------------------------------------------------------------------ actions

function wireActions() {
  $("#act-status").addEventListener("change", (e) => change({ status: e.target.value }));
  $("#act-assignee").addEventListener("change", (e) => {
    if (e.target.value !== OTHER_ASSIGNEE) return change({ assignee: e.target.value || null });
    const other = $("#act-assignee-other");
    show(other, true);
    other.value = "";
    other.focus();
  });
  $("#act-assignee-other").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && e.target.value.trim()) {
      e.preventDefault();
      show(e.target, false);
      change({ assignee: e.target.value.trim() });
    } else if (e.key === "Escape") {
      show(e.target, false);
      renderConversation();
    }
  });
  $("#act-queue").addEventListener("change", (e) => change({ queue: e.target.value }));
  $("#act-urgency").addEventListener("change", (e) => change({ urgency: e.target.value }));
  $("#act-topic").addEventListener("change", (e) => change({ topic: e.target.value }));
  $("#act-take").addEventListener("click", () => change({ assignee: myName() }));
  $("#act-callback").addEventListener("click", requestCallback);
  $("#act-resolve-next").addEventListener("click", resolveAndNext);
}

function banner(text, kind = "error") {
  const b = $("#conv-banner");
  b.className = `banner banner-${kind}`;
  b.textContent = text;
  show(b, !!text);
}

/** PATCH with the version the agent saw; a 409 reloads and says who was quicker.
 *
 * One agent's own changes run one after another, each with the version the previous one produced, so two
 * quick changes of the same agent never conflict with each other. */
function change(fields) {
  return serial(() => changeNow(fields));
}

function serial(fn) {
  const run = state.changing.then(fn);
  state.changing = run.catch(() => false);
  return run;
}

/** Resolving tells the customer (once per resolution, server side) when the box next to "Resolve" is ticked. */
function withResolutionMessage(fields, c) {
  const offered = c.resolution_message && c.resolution_message.available && !$("#resolution-msg").hidden;
  if (fields.status !== "resolved" || !offered || !$("#act-resolution-msg").checked) return fields;
  return { ...fields, send_resolution_message: true };
}

function resolutionBanner(result, ref) {
  if (!result) return;
  // Named by reference: after "Resolve & next" the banner stays up over the next conversation.
  if (result.sent) banner(result.duplicate ? `${ref} resolved; its resolution message had already gone out.` : `${ref} resolved; the customer got the resolution message (${result.channel}).`, "ok");
  else banner(`${ref} resolved, but the resolution message was not sent: ${words(result.reason || "unknown reason")}`, "warning");
}

async function changeNow(fields) {
  const c = state.conv;
  if (!c) return false;
  banner("");
  try {
    const updated = await api.patch(`conversations/${encodeURIComponent(c.conversation_id)}`, { version: c.version, ...withResolutionMessage(fields, c) });
    if (updated && updated.conversation_id === c.conversation_id) {
      state.conv = { ...c, ...updated, timeline: updated.timeline || c.timeline };
    }
    resolutionBanner(updated && updated.resolution_message, c.reference || c.conversation_id);
    await loadConversation(c.conversation_id).catch(() => {});
    state.list.etag = null;
    loadList().catch(() => {});
    return true;
  } catch (e) {
    if (e.status === 409) {
      banner("Someone else changed this conversation first. Nothing was saved: the latest state is shown now, check it and try again.", "warning");
      $("#conv-banner").title = e.message;
      await loadConversation(c.conversation_id).catch(() => {});
    } else {
      banner(`Not saved: ${e.message}`);
      renderConversation();
    }
    return false;
  }
}

function requestCallback() {
  return serial(requestCallbackNow);
}

async function requestCallbackNow() {
  const c = state.conv;
  if (!c) return;
  try {
    await api.post(`conversations/${encodeURIComponent(c.conversation_id)}/callback`, {});
    banner("Call-back requested.", "ok");
    await loadConversation(c.conversation_id);
  } catch (e) {
    banner(`Call-back not requested: ${e.message}`);
  }
}

async function resolveAndNext() {
  const c = state.conv;
  if (!c) return;
  const items = state.list.items;
  const idx = items.findIndex((r) => r.conversation_id === c.conversation_id);
  if (!(await change({ status: "resolved" }))) return;
  const rest = items.filter((r) => r.conversation_id !== c.conversation_id);
  const next = rest[Math.max(0, idx)] || rest[0];
  if (next) location.hash = `#/c/${encodeURIComponent(next.conversation_id)}`;
  else backToList();
}

function moveConversation(delta) {
  const items = state.list.items;
  if (!items.length || !state.conv) return;
  const idx = items.findIndex((r) => r.conversation_id === state.conv.conversation_id);
  const next = items[idx < 0 ? 0 : idx + delta];
  if (next) location.hash = `#/c/${encodeURIComponent(next.conversation_id)}`;
}

// ------------------------------------------------------------------ retention offers

function isReturns(c) {
  return /return|refund/.test(String(c.topic || "")) || c.queue === "retention";
}

async function loadOffers(id) {
  const answer = await api.get(`conversations/${encodeURIComponent(id)}/offers`);
  const offers = Array.isArray(answer) ? answer : answer.offers || [];
  const box = $("#retention");
  const outcome = (o) => h("button", { type: "button", class: "small", onclick: () => recordOutcome(o) }, words(o));
  fill(
    box,
    h("strong", {}, "Retention "),
    offers.some((o) => o.eligible !== false)
      ? null
      : h("span", { class: "muted small" }, "no offer for this customer "),
    // Every offer of the playbook: the eligible ones to use, the others greyed with the reason why not.
    offers.map((o) =>
      h(
        "button",
        {
          type: "button",
          class: "small offer",
          disabled: o.eligible === false,
          title: o.eligible === false ? `Not for this customer: ${o.reason || "not eligible"}` : [o.gives, o.expires && `until ${o.expires}`].filter(Boolean).join(", "),
          onclick: () => useOffer(o),
        },
        `Offer: ${o.label || o.id}`
      )
    ),
    h("span", { class: "muted small" }, " Outcome: "),
    ["kept", "exchanged", "refunded", "no_answer"].map(outcome)
  );
  show(box, true);
}

async function useOffer(offer) {
  const tid = offer.template_id || (offer.template && (offer.template.id || offer.template));
  state.composer.offer = offer.id;
  setMode("reply");
  openPicker();
  if (tid) {
    const summary = offer.template && typeof offer.template === "object" ? offer.template : {};
    const t = state.picker.items.find((x) => x.id === tid) || { title: offer.label, required_inputs: [], ...summary, id: tid };
    chooseTemplate(t);
  }
}

async function recordOutcome(outcome) {
  const c = state.conv;
  try {
    await api.post(`conversations/${encodeURIComponent(c.conversation_id)}/retention`, { outcome, offer_id: state.composer.offer || undefined });
    banner(`Retention outcome recorded: ${words(outcome)}.`, "ok");
    await loadConversation(c.conversation_id);
  } catch (e) {
    banner(`Outcome not recorded: ${e.message}`);
  }
}

// ==================================================================== presence

function startPresence() {
  clearInterval(state.timers.presence);
  heartbeat().catch(() => {});
  state.timers.presence = setInterval(() => {
    heartbeat().catch(() => {});
    refreshConversation().catch(() => {});
  }, PRESENCE_MS);
}

async function heartbeat(stateName) {
  const c = state.conv;
  if (!c) return;
  const { data: answer } = await api.call("POST", `conversations/${encodeURIComponent(c.conversation_id)}/presence`, {
    body: { state: stateName || state.presenceState },
    keepalive: stateName === "left",
  });
  if (state.conv && state.conv.conversation_id === c.conversation_id && answer) renderViewers(answer.viewers);
}

function setPresence(next) {
  if (state.presenceState === next) return;
  state.presenceState = next;
  heartbeat().catch(() => {});
}

async function leavePresence() {
  const c = state.conv;
  if (!c) return;
  try {
    await heartbeat("left");
  } catch {
    /* the entry expires on its own */
  }
}

function leaveConversation() {
  if (!state.conv) return;
  clearInterval(state.timers.presence);
  leavePresence();
  state.conv = null;
  state.presenceState = "viewing";
}

// ==================================================================== composer

function wireComposer() {
  const ta = $("#composer-text");
  $("#mode-reply").addEventListener("click", () => setMode("reply"));
  $("#mode-note").addEventListener("click", () => setMode("note"));
  $("#composer-send").addEventListener("click", send);
  $("#open-templates").addEventListener("click", () => openPicker());
  ta.addEventListener("input", onComposerInput);
  ta.addEventListener("focus", () => setPresence("composing"));
  ta.addEventListener("blur", () => {
    if (!ta.value.trim()) setPresence("viewing");
  });
  ta.addEventListener("keydown", (e) => {
    if (state.mention.open && onMentionKey(e)) return;
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      send();
    } else if (e.key === "Escape") {
      ta.blur();
    }
  });
  $("#picker-q").addEventListener("input", debounce(searchTemplates, 150));
  $("#picker-topic").addEventListener("change", searchTemplates);
  $("#picker-lang").addEventListener("change", searchTemplates);
  $("#picker-q").addEventListener("keydown", onPickerKey);
  $("#picker-list").addEventListener("keydown", onPickerKey);
}

function resetComposer() {
  state.composer = { mode: "reply", key: null, template: null, offer: null, sending: false };
  $("#composer-text").value = "";
  $("#composer-error").textContent = "";
  closePicker();
  renderChip();
  setMode("reply");
}

function setMode(mode) {
  state.composer.mode = mode;
  if (mode !== "note") closeMentions();
  $("#mode-reply").classList.toggle("active", mode === "reply");
  $("#mode-note").classList.toggle("active", mode === "note");
  $("#composer").classList.toggle("is-note", mode === "note");
  $("#composer-send").textContent = mode === "note" ? "Add note" : "Send reply";
  $("#composer-text").placeholder = mode === "note" ? "Internal note for colleagues (never sent). @username to mention" : "Write a reply… ( / or :: for templates )";
  show($("#mention-hint"), mode === "note");
  show($("#open-templates"), mode === "reply");
  show($("#composer-wait").parentElement, mode === "reply");
  updateComposerChannel();
}

function replyChannel() {
  const c = state.conv;
  return c ? c.reply_channel || (c.channel === "sms" ? "sms" : "email") : "email";
}

function updateComposerChannel() {
  const reply = state.composer.mode === "reply";
  $("#composer-channel").textContent = reply && state.conv ? `on ${replyChannel()}` : reply ? "" : "visible to staff only";
  updateCounter();
}

function smsBudget() {
  const c = state.conv || {};
  return Number(c.sms_segment_budget || (state.config.sms && state.config.sms.segment_budget) || state.config.sms_segment_budget || 0) || null;
}

function updateCounter() {
  const el = $("#sms-counter");
  const on = state.composer.mode === "reply" && replyChannel() === "sms";
  show(el, on);
  if (!on) return;
  const n = countSegments($("#composer-text").value.trim());
  const budget = smsBudget();
  const over = budget !== null && n.segments > budget;
  el.className = `small sms-counter ${over ? "over" : ""}`;
  el.textContent = `${n.units} ${n.encoding === "GSM-7" ? "chars" : "UCS-2 units"} · ${n.segments} segment${n.segments === 1 ? "" : "s"}${budget ? ` of ${budget}` : ""} · ${n.encoding}, ${n.left} left`;
  $("#composer-send").disabled = over || state.composer.sending;
}

function onComposerInput(e) {
  const ta = e.target;
  state.composer.key = null; // edited text is a new message: a new idempotency key
  const pos = ta.selectionStart;
  const before = ta.value.slice(0, pos);
  if (state.composer.mode === "reply") {
    // "::" anywhere or "/" at the start of a line opens the template picker; the trigger is removed.
    let cut = 0;
    if (before.endsWith("::")) cut = 2;
    else if (before.endsWith("/") && (before.length === 1 || before.at(-2) === "\n")) cut = 1;
    if (cut) {
      ta.value = ta.value.slice(0, pos - cut) + ta.value.slice(pos);
      ta.selectionStart = ta.selectionEnd = pos - cut;
      openPicker();
    }
  }
  if (state.composer.mode === "note") suggestMentions(ta);
  setPresence(ta.value.trim() ? "composing" : "viewing");
  updateCounter();
}

// ------------------------------------------------------------------ @mention completion

/** The "@abc" being typed just before the cursor, if any (an email address is not a mention). */
function mentionAtCursor(ta) {
  const before = ta.value.slice(0, ta.selectionStart);
  const m = /(^|[^\w@.])@([\w.-]{0,40})$/.exec(before);
  return m ? { start: before.length - m[2].length - 1, prefix: m[2].toLowerCase() } : null;
}

function suggestMentions(ta) {
  const at = mentionAtCursor(ta);
  const items = at
    ? state.staff
        .filter((s) => s.username !== myName())
        .filter((s) => s.username.toLowerCase().startsWith(at.prefix) || (s.name || "").toLowerCase().split(/\s+/).some((w) => w.startsWith(at.prefix)))
        .slice(0, 8)
    : [];
  state.mention = { items, active: 0, open: items.length > 0 };
  renderMentions();
}

function renderMentions() {
  const list = $("#mention-list");
  const m = state.mention;
  fill(
    list,
    m.items.map((s, i) =>
      h(
        "li",
        {
          role: "option",
          class: i === m.active ? "active" : "",
          "aria-selected": String(i === m.active),
          "data-username": s.username,
          // mousedown, not click: the textarea keeps its focus and its cursor.
          onmousedown: (e) => {
            e.preventDefault();
            completeMention(s.username);
          },
        },
        h("strong", {}, `@${s.username}`),
        s.name ? h("span", { class: "muted small" }, ` ${s.name}`) : null
      )
    )
  );
  show(list, m.open);
}

function closeMentions() {
  state.mention = { items: [], active: 0, open: false };
  renderMentions();
}

function completeMention(username) {
  const ta = $("#composer-text");
  const at = mentionAtCursor(ta);
  if (!at) return closeMentions();
  const end = ta.selectionStart;
  const insert = `@${username} `;
  ta.value = ta.value.slice(0, at.start) + insert + ta.value.slice(end);
  ta.selectionStart = ta.selectionEnd = at.start + insert.length;
  state.composer.key = null;
  closeMentions();
  ta.focus();
}

/** Arrows move, Enter or Tab completes, Escape closes; true when the key was the list's. */
function onMentionKey(e) {
  const m = state.mention;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    m.active = (m.active + (e.key === "ArrowDown" ? 1 : -1) + m.items.length) % m.items.length;
    renderMentions();
  } else if ((e.key === "Enter" || e.key === "Tab") && !e.ctrlKey && !e.metaKey) {
    completeMention(m.items[m.active].username);
  } else if (e.key === "Escape") {
    closeMentions();
  } else {
    return false;
  }
  e.preventDefault();
  e.stopPropagation();
  return true;
}

async function send() {
  const c = state.conv;
  const comp = state.composer;
  if (!c || comp.sending) return;
  const ta = $("#composer-text");
  const text = ta.value.trim();
  const err = $("#composer-error");
  err.textContent = "";
  if (!text) {
    err.textContent = comp.mode === "note" ? "The note is empty." : "The reply is empty.";
    return;
  }
  // One key per text: a double-click or a retry after a timeout sends the same key, so once.
  comp.key = comp.key || api.uuid();
  comp.sending = true;
  $("#composer-send").disabled = true;
  const id = encodeURIComponent(c.conversation_id);
  try {
    if (comp.mode === "note") {
      const note = await api.post(`conversations/${id}/notes`, { text, idempotency_key: comp.key });
      const missed = ((note && note.notified) || []).filter((n) => !n.sent);
      if (missed.length) err.textContent = `Note saved; not mailed: ${missed.map((n) => `@${n.username} (${words(n.reason || "not sent")})`).join(", ")}.`;
    } else {
      const body = { text, idempotency_key: comp.key, wait_for_customer: $("#composer-wait").checked };
      if (comp.template) body.template = comp.template;
      if (comp.offer) body.offer_id = comp.offer;
      const answer = await api.post(`conversations/${id}/reply`, body);
      if (answer && answer.sent === false) {
        err.textContent = `Stored but not sent${answer.reason ? `: ${words(answer.reason)}` : ""}.`;
      }
    }
    ta.value = "";
    comp.key = null;
    comp.template = null;
    comp.offer = null;
    renderChip();
    setPresence("viewing");
    await loadConversation(c.conversation_id);
  } catch (e) {
    // A 4xx will fail again with the same text: the key is dropped so a corrected text is new.
    if (e.status && e.status < 500) comp.key = null;
    err.textContent = `Not sent: ${e.message}`;
  } finally {
    comp.sending = false;
    $("#composer-send").disabled = false;
    updateCounter();
  }
}

// ------------------------------------------------------------------ template picker

function openPicker() {
  const p = $("#template-picker");
  state.picker.open = true;
  state.picker.chosen = null;
  show(p, true);
  show($("#picker-inputs"), false);
  $("#picker-error").textContent = "";
  const langs = state.config.languages || [];
  fillSelect($("#picker-lang"), [["", `conversation language${state.conv && state.conv.language ? ` (${state.conv.language})` : ""}`], ...langs.map((l) => [l, l])]);
  if (state.conv && state.conv.topic && [...$("#picker-topic").options].some((o) => o.value === state.conv.topic)) $("#picker-topic").value = state.conv.topic;
  $("#picker-q").value = "";
  $("#picker-q").focus();
  return searchTemplates();
}

function closePicker() {
  state.picker.open = false;
  show($("#template-picker"), false);
}

async function searchTemplates() {
  const q = new URLSearchParams({ channel: replyChannel() });
  const text = $("#picker-q").value.trim();
  if (text) q.set("q", text);
  if ($("#picker-topic").value) q.set("topic", $("#picker-topic").value);
  const lang = $("#picker-lang").value || (state.conv && state.conv.language);
  if (lang) q.set("language", lang);
  try {
    const answer = await api.get(`templates?${q}`);
    state.picker.items = (Array.isArray(answer) ? answer : answer.items || answer.templates || []).filter((t) => !t.purpose || !["acknowledge", "system"].includes(t.purpose));
    state.picker.active = 0;
    renderPicker();
    $("#picker-error").textContent = "";
  } catch (e) {
    state.picker.items = [];
    renderPicker();
    $("#picker-error").textContent = e.status === 404 ? "The template library is not available on this stack yet." : `Templates: ${e.message}`;
  }
}

function renderPicker() {
  const p = state.picker;
  fill(
    $("#picker-list"),
    p.items.map((t, i) =>
      h(
        "li",
        {
          role: "option",
          class: i === p.active ? "active" : "",
          "aria-selected": i === p.active ? "true" : "false",
          dataset: { id: t.id },
          onclick: () => chooseTemplate(t),
        },
        h("strong", {}, t.title || t.id),
        " ",
        h("span", { class: "muted small" }, [t.id, words(t.purpose), (t.topics || []).map(words).join(", "), (t.languages || []).join(" ")].filter(Boolean).join(" · "))
      )
    )
  );
  if (!p.items.length) $("#picker-list").append(h("li", { class: "muted" }, "No template matches."));
}

function onPickerKey(e) {
  const p = state.picker;
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    p.active = Math.min(p.items.length - 1, Math.max(0, p.active + (e.key === "ArrowDown" ? 1 : -1)));
    renderPicker();
  } else if (e.key === "Enter") {
    e.preventDefault();
    if (p.items[p.active]) chooseTemplate(p.items[p.active]);
  } else if (e.key === "Escape") {
    e.preventDefault();
    closePicker();
    $("#composer-text").focus();
  }
}

function chooseTemplate(t) {
  state.picker.chosen = t;
  const inputs = (t.required_inputs || []).map((i) => (typeof i === "string" ? { name: i } : i));
  const form = $("#picker-inputs");
  fill(
    form,
    h("div", { class: "muted small" }, `Template ${t.title || t.id}${inputs.length ? ": fill in" : ""}`),
    inputs.map((i) =>
      h("label", {}, words(i.label || i.name), h("input", { name: i.name, dataset: { input: i.name }, required: true, autocomplete: "off" }))
    ),
    h("button", { type: "submit", class: "primary small" }, "Preview and insert"),
    h("button", { type: "button", class: "ghost small", onclick: () => { closePicker(); $("#composer-text").focus(); } }, "Cancel")
  );
  form.onsubmit = (ev) => {
    ev.preventDefault();
    previewTemplate();
  };
  show(form, true);
  const first = form.querySelector("input");
  if (first) first.focus();
  else previewTemplate();
}

async function previewTemplate() {
  const t = state.picker.chosen;
  const c = state.conv;
  if (!t || !c) return;
  const inputs = {};
  for (const el of $$("#picker-inputs input")) inputs[el.dataset.input] = el.value.trim();
  const missing = Object.entries(inputs).filter(([, v]) => !v).map(([k]) => words(k));
  if (missing.length) {
    $("#picker-error").textContent = `Fill in: ${missing.join(", ")}`;
    return;
  }
  const body = { template_id: t.id, inputs };
  if (t.version) body.version = t.version;
  if ($("#picker-lang").value) body.language = $("#picker-lang").value;
  try {
    const r = await api.post(`conversations/${encodeURIComponent(c.conversation_id)}/preview`, body);
    const ta = $("#composer-text");
    ta.value = (ta.value.trim() ? ta.value.trimEnd() + "\n\n" : "") + (r.text || "").trim();
    const ref = r.template || { id: t.id, version: t.version, language: body.language };
    state.composer.template = { id: ref.id, version: ref.version, language: ref.language, inputs };
    state.composer.fallback = r.fallback;
    state.composer.key = null;
    renderChip();
    closePicker();
    ta.focus();
    setPresence("composing");
    updateCounter();
  } catch (e) {
    $("#picker-error").textContent = `Preview failed: ${e.message}`;
  }
}

function renderChip() {
  const chip = $("#template-chip");
  const t = state.composer.template;
  show(chip, !!t);
  if (!t) return clear(chip);
  fill(
    chip,
    `Template ${t.id} v${t.version ?? "?"} · ${t.language || ""}${state.composer.fallback ? " (fallback language)" : ""}`,
    h(
      "button",
      {
        type: "button",
        class: "ghost small",
        title: "Send as free text",
        onclick: () => {
          state.composer.template = null;
          renderChip();
        },
      },
      "×"
    )
  );
}

// ==================================================================== search

function wireSearch() {
  const input = $("#search");
  const run = debounce(() => search(input.value.trim()), 250);
  input.addEventListener("input", run);
  $("#search-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const first = $("#search-results a");
    if (first && document.activeElement === input) first.click();
  });
  input.addEventListener("keydown", (e) => {
    if (e.key === "Escape") {
      input.value = "";
      show($("#search-results"), false);
      input.blur();
    } else if (e.key === "ArrowDown") {
      e.preventDefault();
      const first = $("#search-results a");
      if (first) first.focus();
    }
  });
  $("#search-results").addEventListener("keydown", (e) => {
    const links = $$("#search-results a");
    const i = links.indexOf(document.activeElement);
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      const next = links[i + (e.key === "ArrowDown" ? 1 : -1)];
      (next || input).focus();
    } else if (e.key === "Escape") {
      show($("#search-results"), false);
      input.focus();
    }
  });
  document.addEventListener("click", (e) => {
    if (!$("#search-form").contains(e.target)) show($("#search-results"), false);
  });
}

async function search(q) {
  const box = $("#search-results");
  if (q.length < 2) {
    show(box, false);
    return;
  }
  let r;
  try {
    r = await api.get(`search?${new URLSearchParams({ q })}`);
  } catch (e) {
    fill(box, h("div", { class: "error small" }, `Search failed: ${e.message}`));
    show(box, true);
    return;
  }
  if ($("#search").value.trim() !== q) return;
  const convs = r.conversations || [];
  const custs = r.customers || [];
  const close = () => {
    show(box, false);
    $("#search").value = "";
  };
  fill(
    box,
    convs.length ? h("h4", {}, "Conversations") : null,
    convs.map((c) =>
      h(
        "a",
        { href: `#/c/${encodeURIComponent(c.conversation_id)}`, class: "result", onclick: close },
        channelPill(c.channel),
        h("span", { class: "ref" }, c.reference || c.conversation_id),
        statusBadge(c.status),
        h("span", {}, c.subject || words(c.topic) || ""),
        h("span", { class: "muted small" }, (c.customer && c.customer.name) || c.customer_name || "")
      )
    ),
    custs.length ? h("h4", {}, "Customers") : null,
    custs.map((c) =>
      h(
        "a",
        { href: `#/customer/${encodeURIComponent(c.customer_id)}`, class: "result", onclick: close },
        h("strong", {}, c.name || c.customer_id),
        " ",
        h("span", { class: "muted small" }, (c.identities || []).map((i) => identityParts(i)[1]).join(", "))
      )
    ),
    !convs.length && !custs.length ? h("div", { class: "muted small" }, "Nothing found.") : null
  );
  show(box, true);
}

// ==================================================================== staff (admin)

function wireStaff() {
  $("#invite-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    $("#staff-error").textContent = "";
    try {
      await api.post("staff", { email: $("#invite-email").value.trim(), name: $("#invite-name").value.trim(), role: $("#invite-role").value });
      $("#invite-email").value = "";
      $("#invite-name").value = "";
      await loadStaff();
    } catch (err) {
      $("#staff-error").textContent = `Invite failed: ${err.message}`;
    }
  });
}

async function openStaff() {
  state.route = { name: "staff" };
  show($("#staff-view"), true);
  await loadStaff().catch((e) => {
    $("#staff-error").textContent = `Could not load the staff: ${e.message}`;
  });
}

async function loadColleagues() {
  const answer = await api.get("staff");
  state.staff = Array.isArray(answer) ? answer : [];
}

async function loadStaff() {
  const answer = await api.get("staff");
  state.staff = Array.isArray(answer) ? answer : answer.items || answer.staff || [];
  fill(
    $("#staff-body"),
    state.staff.map((s) => {
      const role = h("select", {}, ["agent", "supervisor", "admin"].map((r) => h("option", { value: r }, r)));
      role.value = s.role || (s.groups && s.groups.at(-1)) || "agent";
      role.disabled = s.username === myName();
      role.addEventListener("change", () => updateStaff(s.username, { role: role.value }));
      const enabled = s.enabled !== false;
      return h(
        "tr",
        { "data-username": s.username },
        h("td", {}, s.username),
        h("td", {}, s.name || ""),
        h("td", {}, s.email || ""),
        h("td", {}, role),
        h("td", { class: "staff-queues" }, staffQueues(s)),
        h("td", {}, enabled ? STAFF_STATUS[s.status] || words(String(s.status || "active").toLowerCase()) : "disabled"),
        h(
          "td",
          {},
          // Nobody disables their own account from here: the last admin could lock everyone out.
          s.username === myName()
            ? h("span", { class: "muted small" }, "you")
            : h("button", { type: "button", class: "small", onclick: () => updateStaff(s.username, { enabled: !enabled }) }, enabled ? "Disable" : "Enable")
        )
      );
    })
  );
}

/** An agent's queues as boxes (their `queue-<id>` groups; none ticked: every queue); others see all. */
function staffQueues(s) {
  const role = s.role || "agent";
  if (role !== "agent") return h("span", { class: "muted small" }, "all queues");
  const all = (state.config.queues || []).map((q) => q.id || q);
  const mine = new Set(s.queues || []);
  const boxes = all.map((q) => {
    const box = h("input", { type: "checkbox", value: q, checked: mine.has(q), "aria-label": `${s.username} works ${q}` });
    box.addEventListener("change", (e) => {
      const row = e.target.closest("td");
      const chosen = [...row.querySelectorAll("input:checked")].map((b) => b.value);
      updateStaff(s.username, { queues: chosen });
    });
    return h("label", { class: "small queue-box" }, box, ` ${q}`);
  });
  return [boxes, mine.size ? null : h("span", { class: "muted small" }, " (none ticked: every queue)")];
}

async function updateStaff(username, fields) {
  $("#staff-error").textContent = "";
  try {
    await api.patch(`staff/${encodeURIComponent(username)}`, fields);
  } catch (e) {
    $("#staff-error").textContent = `Not saved: ${e.message}`;
  }
  await loadStaff().catch(() => {});
}

// ==================================================================== keyboard

function typing(e) {
  const t = e.target;
  return t && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName));
}

function toggleCheatsheet(force) {
  const m = $("#cheatsheet");
  show(m, force === undefined ? m.hidden : force);
}

/** Single keys without modifiers, only when not typing: none is a browser shortcut. */
function onKey(e) {
  if (!state.me || e.ctrlKey || e.metaKey || e.altKey) return;
  if (e.key === "Escape") {
    toggleCheatsheet(false);
    openBrief(false);
    if (state.picker.open) closePicker();
    return;
  }
  if (typing(e)) return;
  const inConv = state.route.name === "conv";
  const handled = (() => {
    switch (e.key) {
      case "?":
        toggleCheatsheet();
        return true;
      case "/":
        $("#search").focus();
        return true;
      case "j":
        inConv ? moveConversation(+1) : selectRow(+1);
        return true;
      case "k":
        inConv ? moveConversation(-1) : selectRow(-1);
        return true;
      case "o":
      case "Enter": {
        if (inConv) return false;
        const row = state.list.items[state.list.selected];
        if (row) location.hash = `#/c/${encodeURIComponent(row.conversation_id)}`;
        return !!row;
      }
      case "u":
        if (!inConv) return false;
        backToList();
        return true;
      case "r":
      case "n":
        if (!inConv) return false;
        setMode(e.key === "r" ? "reply" : "note");
        $("#composer-text").focus();
        return true;
      case "a":
        if (!inConv) return false;
        change({ assignee: myName() });
        return true;
      case "e":
        if (!inConv) return false;
        resolveAndNext();
        return true;
      default:
        return false;
    }
  })();
  if (handled) e.preventDefault();
}

function debounce(fn, ms) {
  let t;
  return (...args) => {
    clearTimeout(t);
    t = setTimeout(() => fn(...args), ms);
  };
}
