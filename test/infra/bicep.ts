// A small reader for the Bicep we write: enough structure for text checks where no Bicep
// compiler is available (strings, comments, blocks, params, resources, modules).
import { readFileSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

export function listFiles(dir: string, predicate: (path: string) => boolean): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) found.push(...listFiles(p, predicate));
    else if (predicate(p)) found.push(p);
  }
  return found.sort();
}

export function read(path: string): string {
  return readFileSync(path, "utf8");
}

/**
 * The same text with comments and the literal parts of strings blanked to spaces, so
 * that offsets still line up with the source and nothing inside a string or comment is
 * seen as code. Interpolations (`${...}`) stay: they are code. Throws on an unterminated
 * string, interpolation or comment.
 */
export function mask(src: string): string {
  const out = src.split("");
  const n = src.length;
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== "\n") out[k] = " ";
  };
  // Returns the offset just past the closing quote; blanks the literal parts on the way.
  const scanString = (start: number): number => {
    if (src.startsWith("'''", start)) {
      const end = src.indexOf("'''", start + 3);
      if (end < 0) throw new Error(`unterminated multi-line string at offset ${start}`);
      blank(start + 3, end);
      return end + 3;
    }
    let j = start + 1;
    let literalFrom = j;
    while (j < n) {
      const c = src[j];
      if (c === "\\") {
        j += 2;
        continue;
      }
      if (c === "'") {
        blank(literalFrom, j);
        return j + 1;
      }
      if (c === "$" && src[j + 1] === "{") {
        blank(literalFrom, j);
        j = scanCode(j + 2, true);
        literalFrom = j;
        continue;
      }
      if (c === "\n") throw new Error(`unterminated string at offset ${start}`);
      j++;
    }
    throw new Error(`unterminated string at offset ${start}`);
  };
  // Code from `from`; with `untilBrace`, stops just past the `}` that closes an interpolation.
  const scanCode = (from: number, untilBrace: boolean): number => {
    let depth = 0;
    let i = from;
    while (i < n) {
      if (src.startsWith("//", i)) {
        const end = src.indexOf("\n", i);
        const stop = end < 0 ? n : end;
        blank(i, stop);
        i = stop;
      } else if (src.startsWith("/*", i)) {
        const end = src.indexOf("*/", i + 2);
        if (end < 0) throw new Error(`unterminated comment at offset ${i}`);
        blank(i, end + 2);
        i = end + 2;
      } else if (src[i] === "'") {
        i = scanString(i);
      } else {
        if (untilBrace) {
          if (src[i] === "{") depth++;
          else if (src[i] === "}") {
            if (depth === 0) return i + 1;
            depth--;
          }
        }
        i++;
      }
    }
    if (untilBrace) throw new Error(`unterminated interpolation starting at offset ${from}`);
    return n;
  };
  scanCode(0, false);
  return out.join("");
}

/** Unbalanced or mismatched (), [], {} in masked text, as messages (empty: balanced). */
export function bracketProblems(masked: string): string[] {
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  const stack: { c: string; line: number }[] = [];
  const problems: string[] = [];
  let line = 1;
  for (const c of masked) {
    if (c === "\n") line++;
    else if (c === "(" || c === "[" || c === "{") stack.push({ c, line });
    else if (c === ")" || c === "]" || c === "}") {
      const top = stack.pop();
      if (!top || top.c !== pairs[c]) problems.push(`line ${line}: '${c}' does not close ${top ? `'${top.c}' from line ${top.line}` : "anything"}`);
    }
  }
  for (const open of stack) problems.push(`line ${open.line}: '${open.c}' is never closed`);
  return problems;
}

/** From the index of an opening bracket, the index just past its matching close (masked text). */
export function matchingClose(masked: string, open: number): number {
  const opener = masked[open];
  const closer = opener === "{" ? "}" : opener === "[" ? "]" : ")";
  let depth = 0;
  for (let k = open; k < masked.length; k++) {
    if (masked[k] === opener) depth++;
    else if (masked[k] === closer && --depth === 0) return k + 1;
  }
  throw new Error(`no match for '${opener}' at offset ${open}`);
}

export interface Declaration {
  readonly kind: "param" | "var" | "output" | "resource" | "module" | "type" | "func";
  readonly name: string;
  /** Offset of the declaration keyword. */
  readonly start: number;
  /** Source from the keyword to the end of the declaration (its block, if any). */
  readonly text: string;
  /** Decorators directly above it (source text, joined). */
  readonly decorators: string;
}

/** Top-level declarations of a Bicep file, each with the decorators right above it. */
export function declarations(src: string): Declaration[] {
  const masked = mask(src);
  // Decorator spans: `@name` or `@name(...)` at the start of a line.
  const decoratorSpans: { start: number; end: number }[] = [];
  const dre = /^[ \t]*@[A-Za-z_][A-Za-z0-9_.]*/gm;
  for (let m = dre.exec(masked); m; m = dre.exec(masked)) {
    const at = m.index + m[0].length;
    const end = masked[at] === "(" ? matchingClose(masked, at) : at;
    decoratorSpans.push({ start: m.index, end });
  }
  const result: Declaration[] = [];
  const re = /^(param|var|output|resource|module|type|func)\s+([A-Za-z_][A-Za-z0-9_]*)/gm;
  for (let m = re.exec(masked); m; m = re.exec(masked)) {
    const start = m.index;
    // A declaration ends at the end of its line, unless a bracket opened on that line is
    // still open: then at the end of the line where it closes (and so on).
    let end = masked.indexOf("\n", start);
    if (end < 0) end = masked.length;
    let k = start;
    while (k < end) {
      const c = masked[k];
      if (c === "{" || c === "[" || c === "(") {
        const close = matchingClose(masked, k);
        k = close;
        if (close > end) {
          end = masked.indexOf("\n", close);
          if (end < 0) end = masked.length;
        }
        continue;
      }
      k++;
    }
    // Multi-line ternaries: continuation lines start with `?` or `:`.
    for (;;) {
      const next = /^\n[ \t]+[?:][^\n]*/.exec(masked.slice(end));
      if (!next) break;
      end += next[0].length;
    }
    // Decorators directly above: spans separated from the declaration only by white space.
    const decorators: string[] = [];
    let boundary = start;
    for (let d = decoratorSpans.length - 1; d >= 0; d--) {
      const span = decoratorSpans[d];
      if (!span || span.end > boundary) continue;
      if (masked.slice(span.end, boundary).trim() !== "") break;
      decorators.unshift(src.slice(span.start, span.end).trim());
      boundary = span.start;
    }
    result.push({ kind: m[1] as Declaration["kind"], name: m[2] ?? "", start, text: src.slice(start, end), decorators: decorators.join("\n") });
  }
  return result;
}

/** Keys of the object literal whose `{` is at `open` in `src` (top level only). */
export function objectKeys(src: string, open: number): string[] {
  const masked = mask(src);
  const close = matchingClose(masked, open);
  const keys: string[] = [];
  let depth = 0;
  let lineStart = true;
  for (let k = open + 1; k < close - 1; k++) {
    const c = masked[k];
    if (c === "{" || c === "[" || c === "(") depth++;
    else if (c === "}" || c === "]" || c === ")") depth--;
    if (c === "\n") {
      lineStart = true;
      continue;
    }
    if (lineStart && depth === 0 && c !== " " && c !== "\t") {
      lineStart = false;
      const rest = src.slice(k, src.indexOf("\n", k) < 0 ? close : src.indexOf("\n", k));
      const m = /^('([^']*)'|[A-Za-z_][A-Za-z0-9_]*)\s*:/.exec(rest);
      if (m) keys.push(m[2] ?? m[1] ?? "");
    } else if (c !== " " && c !== "\t") {
      lineStart = false;
    }
  }
  return keys;
}

/** Offset of the `{` that opens the value of `key:` inside `text` (first occurrence), or -1. */
export function blockOf(text: string, key: string): number {
  const masked = mask(text);
  const re = new RegExp(`(^|[\\s{,])${key}\\s*:\\s*`, "m");
  const m = re.exec(masked);
  if (!m) return -1;
  const at = m.index + m[0].length;
  const brace = masked.indexOf("{", at);
  return brace;
}

export interface ParamInfo {
  readonly name: string;
  readonly type: string;
  readonly required: boolean;
  readonly hasDefault: boolean;
  readonly decorators: string;
}

export function params(src: string): ParamInfo[] {
  return declarations(src)
    .filter((d) => d.kind === "param")
    .map((d) => {
      const masked = mask(d.text);
      const head = /^param\s+\w+\s+/.exec(masked)?.[0] ?? "";
      let typeEnd: number;
      if (masked[head.length] === "{") {
        typeEnd = matchingClose(masked, head.length);
        if (masked[typeEnd] === "?") typeEnd++;
        if (masked[typeEnd] === "[" && masked[typeEnd + 1] === "]") typeEnd += 2;
      } else {
        const eq = masked.indexOf("=", head.length);
        typeEnd = eq < 0 ? masked.length : eq;
      }
      const type = d.text.slice(head.length, typeEnd).trim();
      const hasDefault = /^\s*=/.test(masked.slice(typeEnd));
      const nullable = type.endsWith("?");
      return { name: d.name, type, required: !hasDefault && !nullable, hasDefault, decorators: d.decorators };
    });
}

export interface ModuleCall {
  readonly name: string;
  readonly path: string;
  readonly text: string;
  readonly paramKeys: string[];
}

export function modules(src: string): ModuleCall[] {
  return declarations(src)
    .filter((d) => d.kind === "module")
    .map((d) => {
      const path = /^module\s+\w+\s+'([^']+)'/.exec(d.text)?.[1] ?? "";
      const at = blockOf(d.text, "params");
      return { name: d.name, path, text: d.text, paramKeys: at < 0 ? [] : objectKeys(d.text, at) };
    });
}

export interface ResourceDecl {
  readonly name: string;
  readonly type: string;
  readonly apiVersion: string;
  readonly existing: boolean;
  readonly text: string;
}

export function resources(src: string): ResourceDecl[] {
  return declarations(src)
    .filter((d) => d.kind === "resource")
    .map((d) => {
      const m = /^resource\s+\w+\s+'([^'@]+)@([^']+)'\s*(existing)?/.exec(d.text);
      return { name: d.name, type: m?.[1] ?? "", apiVersion: m?.[2] ?? "", existing: !!m?.[3], text: d.text };
    });
}

/** Whether `name` is used as an identifier anywhere in code other than its own declaration name. */
export function usesIdentifier(src: string, name: string, declStart: number): boolean {
  const masked = mask(src);
  const re = new RegExp(`(?<![A-Za-z0-9_.$])${name}(?![A-Za-z0-9_])`, "g");
  const ownName = masked.indexOf(name, declStart);
  for (let m = re.exec(masked); m; m = re.exec(masked)) if (m.index !== ownName) return true;
  return false;
}
