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

export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < MIN_LENGTH) return;
  if (values.has(value)) return;
  values.add(value);
  // JSON-escaped forms travel inside serialised bodies.
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) values.add(escaped);
  const encoded = encodeURIComponent(value);
  if (encoded !== value) values.add(encoded);
  while (values.size > MAX_VALUES) {
    const oldest = values.values().next().value;
    if (oldest === undefined) break;
    values.delete(oldest);
  }
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
  let out = text;
  for (const value of values) {
    if (out.includes(value)) out = out.split(value).join(MASK);
  }
  for (const pattern of patterns) {
    out = out.replace(pattern, (_m, pre: string, _secret: string, post?: string) => `${pre}${MASK}${typeof post === "string" ? post : ""}`);
  }
  return out;
}

/** Test and benchmark use: forget registered values. */
export function clearRegisteredSecrets(): void {
  values.clear();
}
