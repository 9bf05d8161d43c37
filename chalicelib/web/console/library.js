// The template editor for admins: list, edit with a server-rendered preview on a sample conversation,
// save as a new version (refused unless the last preview of exactly this text rendered), history with diffs.
// Uses the console's sign-in (localStorage "replydesk.tokens"); all text goes in through textContent.

const TOKENS_KEY = "replydesk.tokens";
const PARTS = { email: ["subject", "text", "html"], sms: ["text"], snippet: ["text"] };
const PURPOSES = ["answer", "retention_offer", "follow_up", "acknowledge", "reply", "resolution",
  "opt_out_confirmation", "opt_in_confirmation", "faq", "complementary_offer", "rating_thanks"];

const $ = (id) => document.getElementById(id);
const state = { templates: [], current: null, bodies: {}, lang: null, languages: [], checked: null };

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }

function tokens() {
  try {
    const t = JSON.parse(localStorage.getItem(TOKENS_KEY) || "null");
    return t && t.id_token && (!t.expires_at || t.expires_at > Date.now()) ? t : null;
  } catch { return null; }
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(method, path, body) {
  const t = tokens();
  if (!t) { showSignIn(); throw new ApiError(401, "sign in first"); }
  const resp = await fetch(new URL("../api/" + path, document.baseURI), {
    method,
    headers: { "Authorization": "Bearer " + t.id_token, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = { Message: text }; }
  if (resp.status === 401) showSignIn();
  if (!resp.ok) throw new ApiError(resp.status, (data && (data.Message || data.Code)) || `HTTP ${resp.status}`);
  return data;
}

function showSignIn() { $("signin").hidden = false; $("app").hidden = true; }

function setError(message) { $("error").textContent = message || ""; }
function setStatus(message) { $("status").textContent = message || ""; }

// ------------------------------------------------------------------ list

async function loadList() {
  const retired = $("show-retired").checked ? "&retired=1" : "";
  const q = encodeURIComponent($("search").value.trim());
  const purpose = encodeURIComponent($("purpose-filter").value);
  state.templates = await api("GET", `templates?all=1&q=${q}&purpose=${purpose}${retired}`);
  for (const t of state.templates) for (const l of t.languages) if (!state.languages.includes(l)) state.languages.push(l);
  renderList();
}

function renderList() {
  const ul = $("templates");
  clear(ul);
  for (const t of state.templates) {
    const li = el("li", { "data-id": t.id, class: state.current && state.current.id === t.id ? "active" : "", onclick: () => open(t.id) },
      el("div", { class: "tid" + (t.retired ? " retired" : "") }, t.id),
      el("div", { class: "meta" }, `v${t.version} · ${t.purpose} · ${t.languages.join(", ")}`, t.title ? ` · ${t.title}` : ""));
    ul.append(li);
  }
}

// ------------------------------------------------------------------ editor

function channelOf(id) { return (String(id).split(".").pop() || "email"); }

function fillForm(t) {
  $("form").hidden = false;
  $("empty").hidden = true;
  $("f-id").value = t.id || "";
  $("f-id").readOnly = Boolean(t.version);
  $("f-title").value = t.title || "";
  $("f-purpose").value = t.purpose || "answer";
  $("f-topics").value = (t.topics || []).join(", ");
  $("f-inputs").value = (t.required_inputs || []).join(", ");
  $("f-version").textContent = t.version ? `version ${t.version} by ${t.author || "?"} at ${t.created_at || "?"}` : "new template";
  $("retire").hidden = !t.version;
  state.bodies = JSON.parse(JSON.stringify(t.bodies || {}));
  state.lang = Object.keys(state.bodies)[0] || state.languages[0] || "en";
  state.checked = null;
  $("save").disabled = true;
  clear($("preview-out"));
  setError("");
  setStatus("");
  renderLanguages();
  renderParts();
}

function renderLanguages() {
  const tabs = $("langs");
  clear(tabs);
  const langs = [...new Set([...state.languages, ...Object.keys(state.bodies)])];
  for (const lang of langs) {
    tabs.append(el("button", {
      type: "button", role: "tab", "aria-selected": String(lang === state.lang), "data-lang": lang,
      class: state.bodies[lang] ? "" : "missing",
      onclick: () => { state.lang = lang; renderLanguages(); renderParts(); },
    }, lang));
  }
}

function renderParts() {
  const box = $("parts");
  clear(box);
  const parts = PARTS[channelOf($("f-id").value)] || ["text"];
  const body = state.bodies[state.lang] || {};
  for (const part of parts) {
    const area = el("textarea", { id: `part-${part}`, "data-part": part, "aria-label": `${state.lang} ${part}`, spellcheck: "true" });
    area.value = body[part] || "";
    area.addEventListener("input", () => {
      const b = state.bodies[state.lang] || (state.bodies[state.lang] = {});
      if (area.value.trim()) b[part] = area.value; else delete b[part];
      if (!Object.keys(b).length) delete state.bodies[state.lang];
      changed();
    });
    box.append(el("div", { class: "part" }, el("label", { for: `part-${part}` }, `${state.lang} · ${part}`), area));
  }
}

function list(value) { return value.split(",").map((s) => s.trim()).filter(Boolean); }

function draft() {
  return {
    id: $("f-id").value.trim(),
    title: $("f-title").value.trim(),
    purpose: $("f-purpose").value,
    topics: list($("f-topics").value),
    required_inputs: list($("f-inputs").value),
    bodies: state.bodies,
  };
}

// Any edit invalidates the last preview: a template that fails to render cannot be saved.
function changed() {
  state.checked = null;
  $("save").disabled = true;
  setStatus("Changed: preview before saving.");
}

async function preview() {
  setError("");
  const d = draft();
  const body = { ...d, conversation_id: $("f-conversation").value.trim() || undefined };
  const out = $("preview-out");
  clear(out);
  try {
    const result = await api("POST", `templates/${encodeURIComponent(d.id)}/check`, body);
    state.checked = JSON.stringify(d);
    $("save").disabled = false;
    setStatus("Renders in every language: you can save.");
    const p = result.previews[state.lang] || Object.values(result.previews)[0];
    if (p.subject) out.append(el("div", { class: "subject" }, p.subject));
    out.append(el("pre", { id: "preview-text" }, p.text));
    if (p.html) out.append(el("details", {}, el("summary", {}, "HTML source"), el("pre", {}, p.html)));
  } catch (err) {
    state.checked = null;
    $("save").disabled = true;
    setError(err.message);
  }
}

async function save(event) {
  event.preventDefault();
  const d = draft();
  if (state.checked !== JSON.stringify(d)) { setError("Preview first: the template must render before it is saved."); return; }
  try {
    const saved = state.current && state.current.version
      ? await api("PUT", `templates/${encodeURIComponent(d.id)}`, { ...d, version: state.current.version })
      : await api("POST", "templates", d);
    // The status comes last, once the form holds the saved version: editing before that would be lost.
    await open(saved.id, `Saved as version ${saved.version}.`);
    await loadList();
  } catch (err) {
    setError(err.status === 409 ? `${err.message}` : err.message);
  }
}

async function retire() {
  const id = $("f-id").value.trim();
  if (!confirm(`Retire ${id}? Staff will no longer find it; old messages keep their version.`)) return;
  try {
    await api("POST", `templates/${encodeURIComponent(id)}/retire`);
    setStatus("Retired.");
    await loadList();
  } catch (err) { setError(err.message); }
}

function renderDiff(diff) {
  const pre = el("pre", {});
  for (const line of String(diff || "").split("\n")) {
    const cls = line.startsWith("+") && !line.startsWith("+++") ? "add" : line.startsWith("-") && !line.startsWith("---") ? "del" : "";
    pre.append(el("span", { class: cls }, line + "\n"));
  }
  return pre;
}

async function loadHistory(id) {
  const ol = $("history");
  clear(ol);
  const versions = await api("GET", `templates/${encodeURIComponent(id)}/history`);
  for (const v of versions.slice().reverse()) {
    ol.append(el("li", { "data-version": v.version },
      el("strong", {}, `v${v.version}`), ` ${v.created_at} by ${v.author}`,
      el("details", {}, el("summary", {}, "diff"), renderDiff(v.diff))));
  }
}

async function open(id, status) {
  const t = await api("GET", `templates/${encodeURIComponent(id)}`);
  state.current = t;
  fillForm(t);
  renderList();
  await loadHistory(id);
  if (status) setStatus(status);
}

function newTemplate() {
  state.current = null;
  fillForm({ id: "", purpose: "answer", bodies: {} });
  clear($("history"));
  $("f-id").focus();
}

async function start() {
  const t = tokens();
  if (!t) { showSignIn(); return; }
  $("app").hidden = false;
  for (const p of PURPOSES) {
    $("purpose-filter").append(el("option", { value: p }, p));
    $("f-purpose").append(el("option", { value: p }, p));
  }
  try {
    const me = await api("GET", "me");
    $("who").textContent = `${me.name || me.username} (${(me.roles || me.groups || []).join(", ")})`;
  } catch { /* the list below reports the problem */ }
  $("search").addEventListener("input", () => loadList().catch((e) => setError(e.message)));
  $("purpose-filter").addEventListener("change", () => loadList().catch((e) => setError(e.message)));
  $("show-retired").addEventListener("change", () => loadList().catch((e) => setError(e.message)));
  $("new").addEventListener("click", newTemplate);
  $("preview").addEventListener("click", preview);
  $("retire").addEventListener("click", retire);
  $("form").addEventListener("submit", save);
  for (const id of ["f-title", "f-purpose", "f-topics", "f-inputs", "f-id"]) $(id).addEventListener("input", changed);
  $("f-id").addEventListener("change", renderParts);
  await loadList();
  const wanted = new URLSearchParams(location.hash.slice(1)).get("id");
  if (wanted) await open(wanted);
}

start().catch((err) => setError(err.message));
