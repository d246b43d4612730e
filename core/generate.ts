// Secret generation: node:crypto's CSPRNG only (randomInt is uniform: no modulo bias).
import { randomInt } from "node:crypto";

export const CharacterClass = {
  lower: "abcdefghijklmnopqrstuvwxyz",
  upper: "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
  digit: "0123456789",
  // No quote, backslash, semicolon, slash, colon, at or space: values end up in
  // connection strings, URLs and shell variables.
  symbol: "!#%*+-.=?^_~",
} as const;
export type CharacterClass = keyof typeof CharacterClass;
export const ALL_CLASSES = Object.keys(CharacterClass) as CharacterClass[];

/**
 * A random string of `length` characters with at least one of each requested class
 * (then shuffled, so the guaranteed characters are not at fixed positions).
 */
export function generateSecret(length: number, classes: readonly CharacterClass[] = ALL_CLASSES): string {
  if (classes.length === 0) throw new Error("at least one character class is needed");
  if (!Number.isInteger(length) || length < classes.length) throw new Error(`length must be at least ${classes.length}`);
  const alphabet = classes.map((c) => CharacterClass[c]).join("");
  const chars: string[] = classes.map((c) => pick(CharacterClass[c]));
  while (chars.length < length) chars.push(pick(alphabet));
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join("");
}

function pick(alphabet: string): string {
  return alphabet[randomInt(alphabet.length)]!;
}
