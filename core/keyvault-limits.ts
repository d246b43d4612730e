// Key Vault's published transaction limits: the one place keyturn states them.
//
// Source: "Azure Key Vault service limits" (learn.microsoft.com/azure/key-vault/general/service-limits)
// and "Azure Key Vault throttling guidance" (…/general/overview-throttling). Per vault, per
// region, per 10 seconds:
//   - secret CREATE (a PUT that makes a new secret version; certificate and key imports
//     count here too): 300;
//   - key CREATE (create or rotate a key: a new key version): 20 for software keys,
//     10 for HSM keys (RSA 2,048-bit and EC rows; larger RSA keys have the same CREATE limits);
//   - all other transactions (GET, PATCH, DELETE, list pages, ...): 4,000.
// The subscription-wide limit, per region, is 5 times a vault's, for every class.
// A request answered 429 does not count towards any limit.
//
// Not modelled: the weighting of "other" transactions on HSM keys and on RSA 3,072/4,096
// keys (those cost 2–16 times a software GET). keyturn only reads key properties and
// rotates keys; it never runs cryptographic operations.
//
// Pure data and a classifier; imports nothing, so the pacer (core/pacing.ts), the bench and
// the tests can share it without loading an SDK.

/** Key Vault's throttling classes. */
export const KeyVaultTransaction = {
  SecretCreate: "secretCreate",
  KeyCreateSoftware: "keyCreateSoftware",
  KeyCreateHsm: "keyCreateHsm",
  Other: "other",
} as const;
export type KeyVaultTransaction = (typeof KeyVaultTransaction)[keyof typeof KeyVaultTransaction];

export const KEY_VAULT_LIMITS = {
  windowMs: 10_000,
  /** Transactions per window per vault (per region), by class. */
  perVault: {
    [KeyVaultTransaction.SecretCreate]: 300,
    [KeyVaultTransaction.KeyCreateSoftware]: 20,
    [KeyVaultTransaction.KeyCreateHsm]: 10,
    [KeyVaultTransaction.Other]: 4_000,
  },
  /** The subscription-wide limit (per region) is this many times a vault's, per class. */
  subscriptionFactor: 5,
} as const satisfies { windowMs: number; perVault: Record<KeyVaultTransaction, number>; subscriptionFactor: number };

export const KEY_VAULT_TRANSACTIONS: readonly KeyVaultTransaction[] = Object.values(KeyVaultTransaction);

export type TransactionLimits = Readonly<Record<KeyVaultTransaction, number>>;

/** A vault's limits per window times `scale` (a caller's share), at least one transaction per window per class. */
export function scaledVaultLimits(scale: number): TransactionLimits {
  if (!Number.isFinite(scale) || scale <= 0) throw new RangeError(`scale must be a positive number, got ${scale}`);
  return Object.fromEntries(
    KEY_VAULT_TRANSACTIONS.map((c) => [c, Math.max(1, Math.floor(KEY_VAULT_LIMITS.perVault[c] * scale))]),
  ) as Record<KeyVaultTransaction, number>;
}

/** The subscription-wide limits that go with a vault's. */
export function subscriptionLimits(vault: TransactionLimits): TransactionLimits {
  return Object.fromEntries(KEY_VAULT_TRANSACTIONS.map((c) => [c, vault[c] * KEY_VAULT_LIMITS.subscriptionFactor])) as Record<KeyVaultTransaction, number>;
}

const HSM_KEY_TYPES = new Set(["RSA-HSM", "EC-HSM", "OCT-HSM"]);

/**
 * The class(es) a data-plane request counts in, from what the caller sends: method, path
 * (of the vault URL) and, for a key create, the `kty` of its body. A key rotation names
 * no key type: whether the vault counts it as a software or an HSM key CREATE depends on
 * the key, so a caller that does not know must stay within both (both are returned).
 */
export function transactionClassesOf(method: string, path: string, keyType?: string): readonly KeyVaultTransaction[] {
  const m = method.toUpperCase();
  const p = path.replace(/\/+$/, "").toLowerCase();
  if (m === "PUT" && /^\/secrets\/[^/]+$/.test(p)) return [KeyVaultTransaction.SecretCreate];
  if (m === "PUT" && /^\/keys\/[^/]+$/.test(p)) return [KeyVaultTransaction.SecretCreate]; // key import
  // A certificate import counts as a secret CREATE (published); a certificate create makes a secret version too.
  if (m === "POST" && /^\/certificates\/[^/]+\/(import|create)$/.test(p)) return [KeyVaultTransaction.SecretCreate];
  if (m === "POST" && p === "/secrets/restore") return [KeyVaultTransaction.SecretCreate];
  if (m === "POST" && /^\/keys\/[^/]+\/create$/.test(p)) {
    return [keyType !== undefined && HSM_KEY_TYPES.has(keyType.toUpperCase()) ? KeyVaultTransaction.KeyCreateHsm : KeyVaultTransaction.KeyCreateSoftware];
  }
  if (m === "POST" && /^\/keys\/[^/]+\/rotate$/.test(p)) {
    if (keyType === undefined) return [KeyVaultTransaction.KeyCreateSoftware, KeyVaultTransaction.KeyCreateHsm];
    return [HSM_KEY_TYPES.has(keyType.toUpperCase()) ? KeyVaultTransaction.KeyCreateHsm : KeyVaultTransaction.KeyCreateSoftware];
  }
  return [KeyVaultTransaction.Other];
}
