// Registry lookups, kept apart from the list of kinds (rotators/index.ts) so that the
// engine's tests can pass a registry of their own.
import type { Rotator } from "./rotator.js";

export interface RotatorRegistry {
  readonly kinds: readonly string[];
  get(kind: string): Rotator<unknown> | undefined;
  /** The kind whose `resourceTypes` names this ARM resource type (lower case). */
  byResourceType(resourceType: string): Rotator<unknown> | undefined;
}

export function createRegistry(rotators: Readonly<Record<string, Rotator<any>>>): RotatorRegistry {
  const byKind = new Map<string, Rotator<unknown>>();
  const byType = new Map<string, Rotator<unknown>>();
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
