// The campaign brief: a panel next to the conversation, and a section above the work that opens by
// itself until this staff member has marked the current brief read (remembered by the server).
// The server renders the Markdown and sanitises it with nh3; the page still never assigns HTML: it
// parses it in an inert document and copies only the allowed elements, text through text nodes.

import * as api from "./api.js";
import { $, clear, show } from "./dom.js";

const TAGS = new Set(["H1", "H2", "H3", "H4", "P", "UL", "OL", "LI", "STRONG", "EM", "CODE", "PRE", "BLOCKQUOTE",
  "A", "HR", "BR", "TABLE", "THEAD", "TBODY", "TR", "TH", "TD"]);
const SAFE_URL = /^(https?:|mailto:|tel:)/i;

/** A fragment of the allowed elements of `html`; anything else is dropped, its text kept. */
export function briefFragment(html) {
  const doc = new DOMParser().parseFromString(String(html || ""), "text/html");
  const out = document.createDocumentFragment();
  copyChildren(doc.body, out);
  return out;
}

function copyChildren(from, to) {
  for (const node of from.childNodes) {
    if (node.nodeType === Node.TEXT_NODE) {
      to.append(document.createTextNode(node.textContent));
    } else if (node.nodeType === Node.ELEMENT_NODE) {
      if (node.tagName === "SCRIPT" || node.tagName === "STYLE") continue;
      if (!TAGS.has(node.tagName)) {
        copyChildren(node, to);
        continue;
      }
      const el = document.createElement(node.tagName.toLowerCase());
      if (node.tagName === "A") {
        const href = node.getAttribute("href") || "";
        if (SAFE_URL.test(href)) {
          el.setAttribute("href", href);
          el.setAttribute("target", "_blank");
          el.setAttribute("rel", "noopener noreferrer");
        }
      }
      copyChildren(node, el);
      to.append(el);
    }
  }
}

let current = null;

export function wireBrief() {
  $("#brief-button").addEventListener("click", () => openBrief(true));
  $("#brief-close").addEventListener("click", () => openBrief(false));
  $("#brief-read").addEventListener("click", markRead);
  $("#brief-panel-read").addEventListener("click", markRead);
}

/** Fetch the brief after sign-in; opens the dialog for staff who have not read this version yet. */
export async function loadBrief() {
  let brief;
  try {
    brief = await api.get("campaign/brief");
  } catch (e) {
    // A campaign without a brief (404) shows no panel; `campaign check` names the missing file.
    show($("#brief-panel"), false);
    show($("#brief-button"), false);
    return null;
  }
  current = brief;
  for (const id of ["#brief-body", "#brief-welcome-body"]) {
    clear($(id));
    $(id).append(briefFragment(brief.html));
  }
  show($("#brief-panel"), true);
  show($("#brief-button"), true);
  $("#brief-first").hidden = !brief.first_time;
  $("#brief-changed").hidden = brief.first_time || brief.read;
  if (brief.show) openBrief(true);
  return brief;
}

/** Above the list and, beside a conversation, the panel unfolded; the read buttons while unread. */
export function openBrief(open) {
  const unread = !(current && current.read);
  show($("#brief-welcome"), open);
  if (open) $("#brief-panel").open = true;
  $("#brief-read").hidden = !unread;
  $("#brief-panel-read").hidden = !unread;
}

async function markRead() {
  $("#brief-read").disabled = $("#brief-panel-read").disabled = true;
  try {
    current = { ...current, ...(await api.post("campaign/brief/read", {})) };
    openBrief(false);
    $("#brief-panel").open = false;
  } catch (e) {
    $("#brief-error").textContent = `Could not save that you read it: ${e.message}`;
  } finally {
    $("#brief-read").disabled = $("#brief-panel-read").disabled = false;
  }
}
