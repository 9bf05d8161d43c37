// The SLA badge's state from a row's `sla` ({due, total_seconds, remaining_seconds, state}): the same rule
// as chalicelib/console/sla.py (amber under 25 % of the target left, red once past due), recomputed
// every second in the browser so a badge turns red while the agent looks at it.

/** Seconds left until `due` (negative once breached), or null when the row has no deadline. */
export function slaRemaining(sla, now = Date.now()) {
  if (!sla) return null;
  if (sla.due) {
    const due = Date.parse(sla.due);
    if (!Number.isNaN(due)) return (due - now) / 1000;
  }
  return typeof sla.remaining_seconds === "number" ? sla.remaining_seconds : null;
}

/** "ok" | "warning" | "breached", or the server's "paused" (pending customer) / "none" (no deadline). */
export function slaState(sla, now = Date.now()) {
  // A paused clock does not run down, and a closed conversation has no deadline: nothing to recompute.
  if (sla && (sla.state === "paused" || sla.state === "none")) return sla.state;
  const left = slaRemaining(sla, now);
  if (left === null) return (sla && sla.state) || "ok";
  if (left < 0) return "breached";
  if (sla.total_seconds && left < 0.25 * sla.total_seconds) return "warning";
  return "ok";
}
