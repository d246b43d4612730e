// Resource bodies of our Bicep, checked against Azure's published resource type schemas
// (test/infra/schemas/, the files Bicep itself compiles against): property names, value
// types, enums, required and read-only properties, as `az bicep build` would report them.
// No Bicep compiler can be installed here, so the body is read from the source: object and
// array literals, string, number and boolean literals, ternaries of literals and union()
// of object literals are checked; any other expression is taken as the right type (the
// compiler would check it; here it is not known).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { declarations, mask, matchingClose } from "./bicep.js";

// ---------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------

export type Value =
  | { readonly kind: "object"; readonly props: readonly Prop[] }
  | { readonly kind: "array"; readonly items: readonly Value[] }
  | { readonly kind: "string"; readonly value: string }
  | { readonly kind: "number"; readonly value: number }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "null" }
  /** `cond ? a : b`: either may be the value. */
  | { readonly kind: "choice"; readonly options: readonly Value[] }
  /** union(x, {...}, ...): the object literals among the arguments. */
  | { readonly kind: "union"; readonly objects: readonly Value[] }
  /** Anything else; `stringy` for an interpolated string. */
  | { readonly kind: "expr"; readonly text: string; readonly stringy: boolean };

export interface Prop {
  readonly key: string;
  readonly value: Value;
}

/** mask() keeps the newlines of multi-line strings; structure must not see them. */
function structural(src: string): string {
  return mask(src).replace(/'''[\s]*'''/g, (m) => m.replace(/\n/g, " "));
}

const OPEN = "([{";
const CLOSE = ")]}";

/** Splits masked[from, to) at depth-0 occurrences of any char in `seps`; returns [start, end) spans. */
function splitTop(masked: string, from: number, to: number, seps: string): Array<[number, number]> {
  const spans: Array<[number, number]> = [];
  let depth = 0;
  let start = from;
  for (let k = from; k < to; k++) {
    const c = masked[k]!;
    if (OPEN.includes(c)) depth++;
    else if (CLOSE.includes(c)) depth--;
    else if (depth === 0 && seps.includes(c)) {
      spans.push([start, k]);
      start = k + 1;
    }
  }
  spans.push([start, to]);
  return spans;
}

/** Trims white space and comments (blank in masked text). */
function trimSpan(masked: string, from: number, to: number): [number, number] {
  while (from < to && /\s/.test(masked[from]!)) from++;
  while (to > from && /\s/.test(masked[to - 1]!)) to--;
  return [from, to];
}

function unescape(s: string): string {
  return s.replace(/\\(.)/g, (_m, c: string) => ({ n: "\n", r: "\r", t: "\t" })[c] ?? c);
}

export function parseValue(src: string, masked: string, from: number, to: number): Value {
  [from, to] = trimSpan(masked, from, to);
  const text = src.slice(from, to);
  // Ternary at depth 0: cond ? a : b (b may be another ternary).
  const q = topLevelIndex(masked, from, to, "?");
  if (q >= 0) {
    const colon = matchingColon(masked, q + 1, to);
    if (colon >= 0) return { kind: "choice", options: [parseValue(src, masked, q + 1, colon), parseValue(src, masked, colon + 1, to)] };
  }
  const first = src[from];
  if ((first === "{" || first === "[") && matchingClose(masked, from) === to) {
    if (first === "{") return { kind: "object", props: parseProps(src, masked, from + 1, to - 1) };
    if (/^\[\s*for\s/.test(masked.slice(from, to))) return { kind: "expr", text, stringy: false };
    const items = splitTop(masked, from + 1, to - 1, "\n,")
      .map(([a, b]) => trimSpan(masked, a, b))
      .filter(([a, b]) => b > a)
      .map(([a, b]) => parseValue(src, masked, a, b));
    return { kind: "array", items };
  }
  if (text.startsWith("'''") && text.endsWith("'''") && text.length >= 6) return { kind: "string", value: text.slice(3, -3) };
  if (first === "'" && masked.indexOf("'", from + 1) === to - 1) {
    const inner = text.slice(1, -1);
    return /\$\{/.test(inner.replace(/\\\$/g, "")) ? { kind: "expr", text, stringy: true } : { kind: "string", value: unescape(inner) };
  }
  if (/^-?\d+$/.test(text)) return { kind: "number", value: Number(text) };
  if (text === "true" || text === "false") return { kind: "bool", value: text === "true" };
  if (text === "null") return { kind: "null" };
  const union = /^union\(/.exec(masked.slice(from, to));
  if (union && matchingClose(masked, from + 5) === to) {
    const objects = splitTop(masked, from + 6, to - 1, ",")
      .map(([a, b]) => trimSpan(masked, a, b))
      .filter(([a, b]) => src[a] === "{" && matchingClose(masked, a) === b)
      .map(([a, b]) => parseValue(src, masked, a, b));
    return { kind: "union", objects };
  }
  return { kind: "expr", text, stringy: false };
}

function topLevelIndex(masked: string, from: number, to: number, ch: string): number {
  let depth = 0;
  for (let k = from; k < to; k++) {
    const c = masked[k]!;
    if (OPEN.includes(c)) depth++;
    else if (CLOSE.includes(c)) depth--;
    // `?.` and `??` are not the ternary.
    else if (depth === 0 && c === ch && masked[k + 1] !== "." && masked[k + 1] !== "?" && masked[k - 1] !== "?") return k;
  }
  return -1;
}

/** The `:` that closes a ternary opened just before `from`, skipping nested ternaries. */
function matchingColon(masked: string, from: number, to: number): number {
  let depth = 0;
  let pending = 0;
  for (let k = from; k < to; k++) {
    const c = masked[k]!;
    if (OPEN.includes(c)) depth++;
    else if (CLOSE.includes(c)) depth--;
    else if (depth === 0 && c === "?" && masked[k + 1] !== "." && masked[k + 1] !== "?" && masked[k - 1] !== "?") pending++;
    else if (depth === 0 && c === ":") {
      if (pending === 0) return k;
      pending--;
    }
  }
  return -1;
}

/** Properties of an object literal's inside [from, to): `key: value` per line at depth 0. */
function parseProps(src: string, masked: string, from: number, to: number): Prop[] {
  const props: Prop[] = [];
  const lines = splitTop(masked, from, to, "\n");
  for (let i = 0; i < lines.length; i++) {
    let [a, b] = trimSpan(masked, lines[i]![0], lines[i]![1]);
    if (b <= a) continue;
    // Multi-line ternaries continue on lines starting with `?` or `:`.
    while (i + 1 < lines.length && /^\s*[?:]/.test(masked.slice(lines[i + 1]![0], lines[i + 1]![1]))) {
      i++;
      b = trimSpan(masked, lines[i]![0], lines[i]![1])[1];
    }
    const m = /^('((?:[^'\\]|\\.)*)'|[A-Za-z_$][A-Za-z0-9_]*)\s*:/.exec(src.slice(a, b));
    if (!m) {
      // Decorators inside objects (types) and stray tokens are not properties.
      if (!src.slice(a, b).startsWith("@")) props.push({ key: `<unparsed: ${src.slice(a, Math.min(b, a + 40))}>`, value: { kind: "null" } });
      continue;
    }
    const key = m[2] !== undefined ? unescape(m[2]) : m[1]!;
    props.push({ key, value: parseValue(src, masked, a + m[0].length, b) });
  }
  return props;
}

// ---------------------------------------------------------------------------------------
// Resource declarations
// ---------------------------------------------------------------------------------------

export interface ResourceBody {
  readonly file: string;
  readonly symbol: string;
  readonly type: string;
  readonly apiVersion: string;
  readonly existing: boolean;
  readonly body: Value;
}

export function resourceBodies(file: string, src: string): ResourceBody[] {
  const found: ResourceBody[] = [];
  for (const d of declarations(src).filter((x) => x.kind === "resource")) {
    const m = /^resource\s+(\w+)\s+'([^'@]+)@([^']+)'\s*(existing)?/.exec(d.text);
    if (!m) continue;
    const masked = structural(d.text);
    let k = masked.indexOf("=", m[0].length);
    // The body is the first `{` after `=` that is not inside a condition's parentheses.
    let depthParen = 0;
    for (k = k + 1; k < masked.length; k++) {
      const c = masked[k];
      if (c === "(") depthParen++;
      else if (c === ")") depthParen--;
      else if (c === "{" && depthParen === 0) break;
    }
    const close = matchingClose(masked, k);
    found.push({ file, symbol: m[1]!, type: m[2]!, apiVersion: m[3]!, existing: !!m[4], body: parseValue(d.text, masked, k, close) });
  }
  return found;
}

export function propOf(v: Value | undefined, ...path: string[]): Value | undefined {
  let cur = v;
  for (const key of path) {
    if (!cur || cur.kind !== "object") return undefined;
    cur = cur.props.find((p) => p.key === key)?.value;
  }
  return cur;
}

// ---------------------------------------------------------------------------------------
// Schemas
// ---------------------------------------------------------------------------------------

interface Ref {
  readonly $ref: string;
}
interface PropertyType {
  readonly type: Ref;
  readonly flags: number;
}
type TypeNode =
  | { $type: "StringType"; minLength?: number; maxLength?: number; pattern?: string }
  | { $type: "StringLiteralType"; value: string }
  | { $type: "UnionType"; elements: Ref[] }
  | { $type: "IntegerType"; minValue?: number; maxValue?: number }
  | { $type: "BooleanType" }
  | { $type: "AnyType" }
  | { $type: "NullType" }
  | { $type: "ArrayType"; itemType: Ref; minLength?: number; maxLength?: number }
  | { $type: "ObjectType"; name: string; properties: Record<string, PropertyType>; additionalProperties?: Ref }
  | { $type: "DiscriminatedObjectType"; name: string; discriminator: string; baseProperties: Record<string, PropertyType>; elements: Record<string, Ref> }
  | { $type: "ResourceType"; name: string; body: Ref }
  | { $type: string };

export const Flags = { Required: 1, ReadOnly: 2, WriteOnly: 4, DeployTimeConstant: 8 } as const;

interface SchemaFile {
  readonly types: TypeNode[];
}

export class Schemas {
  private readonly byResource = new Map<string, { file: SchemaFile; body: Ref }>();

  constructor(dir: string) {
    const walk = (d: string) => {
      for (const name of readdirSync(d)) {
        const p = join(d, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name === "types.json") {
          const file: SchemaFile = { types: JSON.parse(readFileSync(p, "utf8")) as TypeNode[] };
          for (const t of file.types) if (t.$type === "ResourceType") this.byResource.set((t as { name: string }).name.toLowerCase(), { file, body: (t as { body: Ref }).body });
        }
      }
    };
    walk(dir);
  }

  has(type: string, apiVersion: string): boolean {
    return this.byResource.has(`${type}@${apiVersion}`.toLowerCase());
  }

  /** Problems of one resource body, as `<symbol>.<path>: message`. */
  validate(r: ResourceBody): string[] {
    const entry = this.byResource.get(`${r.type}@${r.apiVersion}`.toLowerCase());
    if (!entry) return [`${r.symbol}: no schema for ${r.type}@${r.apiVersion}`];
    const errors: string[] = [];
    new Validator(entry.file, errors, !r.existing).value(entry.body, r.body, r.symbol, true);
    return errors;
  }
}

/** Keywords of a resource declaration's body that are not resource properties. */
const RESOURCE_KEYWORDS = new Set(["dependsOn", "scope", "parent"]);

class Validator {
  constructor(
    private readonly file: SchemaFile,
    private readonly errors: string[],
    private readonly checkRequired: boolean,
  ) {}

  private node(ref: Ref): TypeNode {
    const t = this.file.types[Number(ref.$ref.slice(2))];
    if (!t) throw new Error(`bad schema reference ${ref.$ref}`);
    return t;
  }

  /** Whether `v` fits `ref`, without recording problems. */
  private fits(ref: Ref, v: Value, path: string): boolean {
    const errors: string[] = [];
    new Validator(this.file, errors, this.checkRequired).value(ref, v, path, false);
    return errors.length === 0;
  }

  value(ref: Ref, v: Value, path: string, top: boolean): void {
    if (v.kind === "choice") {
      for (const o of v.options) this.value(ref, o, path, top);
      return;
    }
    const t = this.node(ref);
    const fail = (msg: string) => this.errors.push(`${path}: ${msg}`);
    const literal = v.kind === "string" || v.kind === "number" || v.kind === "bool" || v.kind === "object" || v.kind === "array" || v.kind === "null" || (v.kind === "expr" && v.stringy);
    const describe = () => (v.kind === "expr" ? "an interpolated string" : v.kind === "string" ? `'${v.value}'` : v.kind === "union" ? "union(...)" : v.kind);
    switch (t.$type) {
      case "AnyType":
        return;
      case "StringType": {
        const s = t as { minLength?: number; maxLength?: number; pattern?: string };
        if (v.kind === "string") {
          if (s.minLength !== undefined && v.value.length < s.minLength) fail(`'${v.value}' is shorter than ${s.minLength}`);
          if (s.maxLength !== undefined && v.value.length > s.maxLength) fail(`'${v.value}' is longer than ${s.maxLength}`);
          if (s.pattern !== undefined && !new RegExp(s.pattern).test(v.value)) fail(`'${v.value}' does not match ${s.pattern}`);
        } else if (literal && !(v.kind === "expr" && v.stringy)) fail(`expects a string, not ${describe()}`);
        return;
      }
      case "StringLiteralType": {
        const expected = (t as { value: string }).value;
        if (v.kind === "string" && v.value !== expected) fail(`'${v.value}' is not '${expected}'`);
        else if (literal && v.kind !== "string" && !(v.kind === "expr" && v.stringy)) fail(`expects '${expected}', not ${describe()}`);
        return;
      }
      case "UnionType": {
        if (!literal && v.kind !== "union") return;
        const elements = (t as { elements: Ref[] }).elements;
        if (!elements.some((e) => this.fits(e, v, path))) {
          const allowed = elements.map((e) => this.node(e)).map((n) => (n.$type === "StringLiteralType" ? `'${(n as { value: string }).value}'` : n.$type));
          fail(`${describe()} is none of ${allowed.join(", ")}`);
        }
        return;
      }
      case "IntegerType": {
        const i = t as { minValue?: number; maxValue?: number };
        if (v.kind === "number") {
          if (i.minValue !== undefined && v.value < i.minValue) fail(`${v.value} is below ${i.minValue}`);
          if (i.maxValue !== undefined && v.value > i.maxValue) fail(`${v.value} is above ${i.maxValue}`);
        } else if (literal) fail(`expects an integer, not ${describe()}`);
        return;
      }
      case "BooleanType":
        if (literal && v.kind !== "bool") fail(`expects a boolean, not ${describe()}`);
        return;
      case "NullType":
        if (literal && v.kind !== "null") fail(`expects null, not ${describe()}`);
        return;
      case "ArrayType": {
        const a = t as { itemType: Ref; minLength?: number; maxLength?: number };
        if (v.kind === "array") {
          v.items.forEach((item, i) => this.value(a.itemType, item, `${path}[${i}]`, false));
          if (a.minLength !== undefined && v.items.length < a.minLength) fail(`needs at least ${a.minLength} items`);
          if (a.maxLength !== undefined && v.items.length > a.maxLength) fail(`takes at most ${a.maxLength} items`);
        } else if (literal) fail(`expects an array, not ${describe()}`);
        return;
      }
      case "ObjectType":
      case "DiscriminatedObjectType":
        this.object(t, v, path, top, literal, describe, fail);
        return;
      default:
        return;
    }
  }

  private object(t: TypeNode, v: Value, path: string, top: boolean, literal: boolean, describe: () => string, fail: (m: string) => void): void {
    if (v.kind === "union") {
      // Each object literal merged by union() is part of this object; none alone need be complete.
      for (const o of v.objects) new Validator(this.file, this.errors, false).value({ $ref: this.refOf(t) }, o, path, top);
      return;
    }
    if (v.kind !== "object") {
      if (literal) fail(`expects an object, not ${describe()}`);
      return;
    }
    let properties: Record<string, PropertyType>;
    let additional: Ref | undefined;
    if (t.$type === "DiscriminatedObjectType") {
      const d = t as { discriminator: string; baseProperties: Record<string, PropertyType>; elements: Record<string, Ref> };
      const tag = v.props.find((p) => p.key === d.discriminator)?.value;
      const elementKey = tag?.kind === "string" ? Object.keys(d.elements).find((k) => k === tag.value) : undefined;
      if (tag?.kind === "string" && elementKey === undefined) {
        fail(`${d.discriminator} '${tag.value}' is none of ${Object.keys(d.elements).map((k) => `'${k}'`).join(", ")}`);
        return;
      }
      if (elementKey === undefined) return; // discriminator not a literal: the variant is not known here
      const element = this.node(d.elements[elementKey]!) as { properties: Record<string, PropertyType>; additionalProperties?: Ref };
      properties = { ...d.baseProperties, ...element.properties };
      additional = element.additionalProperties;
    } else {
      const o = t as { properties: Record<string, PropertyType>; additionalProperties?: Ref };
      properties = o.properties;
      additional = o.additionalProperties;
    }
    const seen = new Set<string>();
    for (const p of v.props) {
      if (seen.has(p.key.toLowerCase())) fail(`${p.key} is given twice`);
      seen.add(p.key.toLowerCase());
      if (top && RESOURCE_KEYWORDS.has(p.key)) continue;
      const schema = properties[p.key];
      if (schema) {
        if (schema.flags & Flags.ReadOnly) fail(`${p.key} is read-only`);
        else this.value(schema.type, p.value, `${path}.${p.key}`, false);
      } else if (additional) {
        this.value(additional, p.value, `${path}.${p.key}`, false);
      } else {
        const near = Object.keys(properties).find((k) => k.toLowerCase() === p.key.toLowerCase());
        fail(`${p.key} is not a property of ${(t as { name: string }).name}${near ? ` (did you mean ${near}?)` : ""}`);
      }
    }
    if (this.checkRequired) {
      for (const [name, schema] of Object.entries(properties)) {
        if (schema.flags & Flags.Required && !(schema.flags & Flags.ReadOnly) && !v.props.some((p) => p.key === name)) fail(`required property ${name} is missing`);
      }
    }
  }

  private refOf(t: TypeNode): string {
    return `#/${this.file.types.indexOf(t)}`;
  }
}
