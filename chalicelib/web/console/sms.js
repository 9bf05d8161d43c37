// SMS segment counting, the same rules as chalicelib/sms.py (3GPP TS 23.038): GSM-7 160 / 153 per
// part, UCS-2 70 / 67; extension characters cost two septets; a part never splits an escape or a
// surrogate pair. Keep the two in step: tests compare them on the same texts.

const GSM7_BASIC = new Set(
  "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
  "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
);
const GSM7_EXTENSION = new Set("\f^{}\\[~]|€");

export const GSM7_SINGLE = 160;
export const GSM7_PART = 153;
export const UCS2_SINGLE = 70;
export const UCS2_PART = 67;

export function isGsm7(text) {
  for (const c of text) {
    if (!GSM7_BASIC.has(c) && !GSM7_EXTENSION.has(c)) return false;
  }
  return true;
}

function costs(text, gsm) {
  const out = [];
  for (const c of text) {  // iterates code points, so a surrogate pair is one character
    if (gsm) out.push(GSM7_EXTENSION.has(c) ? 2 : 1);
    else out.push(c.codePointAt(0) > 0xffff ? 2 : 1);
  }
  return out;
}

/** {encoding, units, segments, perSegment, left}: how the text goes over the air. */
export function countSegments(text) {
  const gsm = isGsm7(text);
  const [single, part] = gsm ? [GSM7_SINGLE, GSM7_PART] : [UCS2_SINGLE, UCS2_PART];
  const cs = costs(text, gsm);
  const units = cs.reduce((a, b) => a + b, 0);
  let segments;
  if (units <= single) {
    segments = units ? 1 : 0;
  } else {
    segments = 1;
    let used = 0;
    for (const cost of cs) {
      if (used + cost > part) { segments += 1; used = 0; }
      used += cost;
    }
  }
  const perSegment = segments <= 1 ? single : part;
  const capacity = segments <= 1 ? single : segments * part;
  return { encoding: gsm ? "GSM-7" : "UCS-2", units, segments, perSegment, left: capacity - units };
}
