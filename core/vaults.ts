// The vault allow-list (setting KEYTURN_VAULTS). keyturn acts only on these vaults:
// an event, an HTTP call or a CLI command naming any other vault changes nothing.
//
// Entries are separated by commas, semicolons or white space. Each is a vault URL
// (`https://contoso-kv.vault.azure.net`, whose name is the first DNS label) or
// `name=url` where the URL does not carry the name (local test doubles on 127.0.0.1).
import { BadRequestError, NotFoundError } from "./errors.js";

export interface VaultRef {
  /** Vault name as Key Vault and Event Grid call it (`VaultName`). Compared case-insensitively. */
  readonly name: string;
  /** Base URL without trailing slash, e.g. `https://contoso-kv.vault.azure.net`. */
  readonly url: string;
}

const vaultName = /^[a-zA-Z][a-zA-Z0-9-]{1,62}$/;

/** Key Vault's own rule for object names: 1-127 letters, digits and dashes. */
export const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;

export class VaultAllowList {
  private readonly byName = new Map<string, VaultRef>();

  constructor(vaults: readonly VaultRef[]) {
    for (const v of vaults) {
      const key = v.name.toLowerCase();
      if (this.byName.has(key)) throw new Error(`KEYTURN_VAULTS lists vault ${v.name} twice`);
      this.byName.set(key, v);
    }
  }

  static parse(setting: string | undefined): VaultAllowList {
    const entries = (setting ?? "").split(/[\s,;]+/).filter((e) => e.length > 0);
    return new VaultAllowList(entries.map(parseEntry));
  }

  get vaults(): VaultRef[] {
    return [...this.byName.values()];
  }

  get size(): number {
    return this.byName.size;
  }

  /** Resolve a vault name; unknown names are a 404 to callers, never a guess. */
  byNameOrThrow(name: string): VaultRef {
    const v = this.find(name);
    if (!v) throw new NotFoundError(`vault '${truncate(name)}' is not on the allow-list`);
    return v;
  }

  find(name: string): VaultRef | undefined {
    return this.byName.get(name.trim().toLowerCase());
  }

  /** The allow-listed vault whose URL has this origin. */
  byOrigin(origin: string): VaultRef | undefined {
    const o = origin.toLowerCase();
    return this.vaults.find((v) => new URL(v.url).origin.toLowerCase() === o);
  }
}

function parseEntry(entry: string): VaultRef {
  const eq = entry.indexOf("=");
  const explicitName = eq > 0 ? entry.slice(0, eq) : undefined;
  const rawUrl = eq > 0 ? entry.slice(eq + 1) : entry;
  let url: URL;
  try {
    url = new URL(rawUrl);
  } catch {
    throw new Error(`KEYTURN_VAULTS: '${truncate(entry)}' is not a vault URL`);
  }
  if (url.protocol !== "https:") throw new Error(`KEYTURN_VAULTS: ${url.origin} must use https`);
  if (url.pathname !== "/" || url.search || url.hash) throw new Error(`KEYTURN_VAULTS: ${rawUrl} must be a bare vault URL (no path)`);
  const name = explicitName ?? url.hostname.split(".")[0] ?? "";
  if (!vaultName.test(name)) throw new Error(`KEYTURN_VAULTS: '${truncate(name)}' is not a vault name`);
  return { name, url: url.origin };
}

export function truncate(s: string, max = 80): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** A vault name from an untrusted caller (HTTP path, CLI argument). */
export function checkVaultName(name: string): string {
  if (!vaultName.test(name)) throw new BadRequestError(`'${truncate(name)}' is not a vault name`);
  return name;
}
