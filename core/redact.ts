// Redaction. Two nets, because one is not enough:
// 1. every secret value keyturn generates or reads is registered here, and any text
//    that passes through the logger, an error message, an HTTP response or a
//    notification is scrubbed of it;
// 2. patterns that look like credentials in connection strings and URLs are masked
//    even when nobody registered them (driver errors echo connection strings).
const MASK = "[REDACTED]";
const MIN_LENGTH = 6; // shorter values would mask ordinary words

// Bounded: a long-running host registers every credential it touches. Old entries go
// first; by then those values have been replaced at the provider.
const MAX_VALUES = 10_000;
const values = new Set<string>();
// Values by a number made of their first MIN_LENGTH characters, longest first: a line is
// scanned once, whatever the number of values registered (a scan per value cost a burst's
// host more than its Key Vault calls did). A number, not the characters themselves: the
// scan looks up every position of every log line, and a substring per position was a
// tenth of what a rotation allocates. Equal keys are only candidates; a match is checked.
const byPrefix = new Map<number, string[]>();

/** The key of the MIN_LENGTH characters at `at` (small enough to stay an integer V8 does not allocate). */
function prefixKey(text: string, at: number): number {
  let key = 0;
  for (let i = at; i < at + MIN_LENGTH; i++) key = (key * 31 + text.charCodeAt(i)) & 0x3fffffff;
  return key;
}

function index(value: string): void {
  if (values.has(value)) return;
  values.add(value);
  const key = prefixKey(value, 0);
  const list = byPrefix.get(key);
  if (!list) byPrefix.set(key, [value]);
  else {
    list.push(value);
    list.sort((a, b) => b.length - a.length);
  }
}

function unindex(value: string): void {
  values.delete(value);
  const key = prefixKey(value, 0);
  const list = byPrefix.get(key);
  if (!list) return;
  const rest = list.filter((v) => v !== value);
  if (rest.length > 0) byPrefix.set(key, rest);
  else byPrefix.delete(key);
}

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_LENGTH) return;
  if (values.has(value)) return;
  index(value);
  // JSON-escaped forms travel inside serialised bodies.
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) index(escaped);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) index(encoded);
  while (values.size > MAX_VALUES) {
    const oldest = values.values().next().value;
    if (oldest === undefined) break;
    unindex(oldest);
  }
}

/** `text` with every stretch that a registered value covers masked (overlapping or adjacent stretches as one). */
function maskRegistered(text: string): string {
  if (byPrefix.size === 0 || text.length < MIN_LENGTH) return text;
  let out = "";
  let copiedTo = 0;
  let maskStart = -1;
  let maskEnd = -1;
  for (let i = 0; i + MIN_LENGTH <= text.length; i++) {
    const candidates = byPrefix.get(prefixKey(text, i));
    if (!candidates) continue;
    const match = candidates.find((v) => text.startsWith(v, i));
    if (match === undefined) continue;
    const end = i + match.length;
    if (maskStart >= 0 && i <= maskEnd) {
      maskEnd = Math.max(maskEnd, end);
      continue;
    }
    if (maskStart >= 0) {
      out += text.slice(copiedTo, maskStart) + MASK;
      copiedTo = maskEnd;
    }
    maskStart = i;
    maskEnd = end;
  }
  if (maskStart < 0) return text;
  return out + text.slice(copiedTo, maskStart) + MASK + text.slice(maskEnd);
}

const patterns: RegExp[] = [
  // AccountKey=...;  Password=...;  SharedAccessKey=... in connection strings
  /((?:AccountKey|SharedAccessKey|Password|Pwd|client_secret|sig)\s*=\s*)([^;&\s"']+)/gi,
  // postgres://user:password@host
  /(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"',;]+:)([^@\s/"',;]+)(@)/gi,
  // "password": "..." in JSON
  /("(?:password|secretText|value|primaryMasterKey|secondaryMasterKey|clientSecret|client_secret)"\s*:\s*")((?:[^"\\]|\\.)*)(")/gi,
];

export function redact(text: string): string {
  let out = maskRegistered(text);
  for (const pattern of patterns) {
    out = out.replace(pattern, (_m, pre: string, _secret: string, post?: string) => `${pre}${MASK}${typeof post === "string" ? post : ""}`);
  }
  return out;
}

/** Test and benchmark use: forget registered values. */
export function clearRegisteredSecrets(): void {
  values.clear();
  byPrefix.clear();
}
