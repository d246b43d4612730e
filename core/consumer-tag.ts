// The `Consumers` tag: the ARM resource IDs of the apps that read a secret (see
// core/consumers.ts for what keyturn does with them). Parsed at plan time, so a bad entry
// is a ConfigurationError naming the tag before anything changes.
import * as z from "zod/mini";
import { transformed } from "./schema.js";
import { ConsumerAccess } from "./access.js";
import { parseArmResourceId, type ArmResourceId } from "./arm.js";
import { ConfigurationError } from "./errors.js";
import { MAX_TAG_VALUE, Tag, type Tags } from "./tags.js";

export const ConsumerKind = { AppService: "app-service", ContainerApp: "container-app" } as const;
export type ConsumerKind = (typeof ConsumerKind)[keyof typeof ConsumerKind];

// Keyed by the role's resource types, so a type the role is not assigned on cannot be a consumer.
const KIND_OF_TYPE: Readonly<Record<(typeof ConsumerAccess.resourceTypes)[number], ConsumerKind>> = {
  "Microsoft.Web/sites": ConsumerKind.AppService,
  "Microsoft.App/containerApps": ConsumerKind.ContainerApp,
};
const KIND_BY_TYPE: Readonly<Record<string, ConsumerKind>> = Object.fromEntries(Object.entries(KIND_OF_TYPE).map(([t, k]) => [t.toLowerCase(), k]));

export interface ConsumerRef {
  readonly kind: ConsumerKind;
  readonly resource: ArmResourceId;
}

/** `Consumers`, then `Consumers2` … `Consumers9`, in that order. */
const CONSUMER_TAG = /^consumers([2-9])?$/i;
const MAX_CONSUMERS = 20;

const consumerIdSchema = transformed(z.string(), (raw, ctx) => {
    const resource = parseArmResourceId(raw);
    const kind = resource ? KIND_BY_TYPE[resource.resourceType] : undefined;
    if (!resource || !kind) {
      ctx.addIssue({
        code: "custom",
        message: `'${raw.slice(0, 120)}' is not the resource ID of an App Service / Function app (Microsoft.Web/sites) or a Container App (Microsoft.App/containerApps)`,
      });
      return z.NEVER;
    }
    return { kind, resource } satisfies ConsumerRef;
  });

const consumersSchema = z.array(consumerIdSchema).check(z.maxLength(MAX_CONSUMERS, { message: `lists more than ${MAX_CONSUMERS} consumers` }));

/** The consumers a secret's tags name, in tag order, without duplicates. Pure; throws ConfigurationError naming the tag. */
export function parseConsumers(tags: Tags): ConsumerRef[] {
  const keys = Object.keys(tags)
    .filter((k) => CONSUMER_TAG.test(k.trim()))
    .sort((a, b) => Number(CONSUMER_TAG.exec(a.trim())?.[1] ?? 1) - Number(CONSUMER_TAG.exec(b.trim())?.[1] ?? 1));
  const entries: string[] = [];
  for (const key of keys) {
    const value = tags[key] ?? "";
    if (value.length > MAX_TAG_VALUE) throw new ConfigurationError(`is longer than Key Vault's ${MAX_TAG_VALUE} characters; continue the list in Consumers2 … Consumers9`, key.trim());
    entries.push(...value.split(",").map((s) => s.trim().replace(/\/+$/, "")).filter((s) => s !== ""));
  }
  const parsed = consumersSchema.safeParse(entries);
  if (!parsed.success) throw new ConfigurationError(parsed.error.issues[0]?.message ?? "is not valid", Tag.Consumers);
  const seen = new Set<string>();
  return parsed.data.filter((c) => {
    const id = c.resource.id.toLowerCase();
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}
