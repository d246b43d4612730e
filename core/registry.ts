// The registry's type and lookups. core/ knows only this; the table of real kinds is
// rotators/index.ts, wired in by the composition root (app/runtime.ts), and the
// engine's tests pass a registry of their own.
import type { AnyRotator, Rotator } from "./rotator.js";

export interface RotatorRegistry {
  readonly kinds: readonly string[];
  get(kind: string): Rotator<unknown, unknown> | undefined;
  /** The kind whose `resourceTypes` names this ARM resource type (lower case). */
  byResourceType(resourceType: string): Rotator<unknown, unknown> | undefined;
}

/** A table of rotators keyed by kind; a rotator under another key than its `kind` does not compile. */
export function defineRotators<T extends { readonly [K in keyof T]: AnyRotator & { readonly kind: K } }>(rotators: T): T {
  return rotators;
}

export function createRegistry(rotators: Readonly<Record<string, AnyRotator>>): RotatorRegistry {
  const byKind = new Map<string, Rotator<unknown, unknown>>();
  const byType = new Map<string, Rotator<unknown, unknown>>();
  for (const [kind, rotator] of Object.entries(rotators)) {
    if (rotator.kind !== kind) throw new Error(`rotator registered as ${kind} calls itself ${rotator.kind}`);
    byKind.set(kind.toLowerCase(), rotator);
    for (const t of rotator.resourceTypes ?? []) {
      if (byType.has(t)) throw new Error(`resource type ${t} is claimed by two rotators`);
      byType.set(t.toLowerCase(), rotator);
    }
  }
  return {
    kinds: [...byKind.values()].map((r) => r.kind),
    get: (kind) => byKind.get(kind.trim().toLowerCase()),
    byResourceType: (t) => byType.get(t.toLowerCase()),
  };
}
