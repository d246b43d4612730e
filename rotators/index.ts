// The rotator registry: one line per kind. The kind is the `Rotator` tag value and
// the folder name. A kind missing here, or registered under another name, does not
// compile.
import type { Rotator } from "../core/rotator.js";
import { generatedSecretRotator } from "./generated-secret/index.js";
import { createRegistry } from "./registry.js";

export const RotatorKinds = ["generated-secret"] as const;
export type RotatorKind = (typeof RotatorKinds)[number];

export const rotators = {
  "generated-secret": generatedSecretRotator,
} satisfies { [K in RotatorKind]: Rotator<any> & { kind: K } };

export const registry = createRegistry(rotators);
export type { RotatorRegistry } from "./registry.js";
