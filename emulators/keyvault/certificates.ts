// The certificates data-plane routes and store, in the shapes of Microsoft's published
// examples (CreateCertificate, GetCertificateOperation, GetCertificate,
// GetCertificatePolicy):
//
// - create from a policy → 202 with a pending operation (`status: inProgress`, a real CSR)
//   and, as the service does, a new version at once: disabled, without `cer`, with the
//   planned nbf (created − 10 min) and exp, and a `pending` link while the operation runs;
//   GET of the certificate answers this version (SDK recording "can read, cancel and
//   delete a certificate's operation"). Issuer `Self` or a configured issuer (DigiCert,
//   GlobalSign, ...) completes after `operationPolls` more polls of GET …/pending; issuer
//   `Unknown` stays in progress until a certificate for the CSR's key is merged (POST
//   …/pending/merge). Cancelling only sets `cancellation_requested` (the service's answer);
//   the next poll of a Self/CA operation then ends it as `cancelled`. Deleting the
//   operation leaves the disabled version behind. A second create while one is in
//   progress is 409. Lists show the newest completed version of a certificate whose
//   newest version is still pending, and a never-completed one only with `includePending`.
// - each completed version is a real X.509 certificate (node-forge, RSA) with its
//   backing key and secret (`managed: true`, same version id), as Key Vault keeps them;
// - get (latest or by version; GET …/certificates/{name}/ with an empty version is the
//   latest, as the SDK sends it), versions, list (`includePending`), update (attributes,
//   tags, policy), policy get/update, issuers (set, get, list, delete).
// Not here: import, delete/recover/purge, backup/restore, contacts, EC certificates.
import { randomBytes } from "node:crypto";
import { KeyVaultHttpError, kvErrors } from "./errors.js";
import type { Route, RouteRequest, RouteResponse, VaultContext } from "./http.js";
import type { KeyStore } from "./keys.js";
import type { SecretStore } from "./store.js";
import { OBJECT_NAME_PATTERN, VersionedObjects, applyAttributePatch, assertObjectName, assertTags, newVersionAttributes, newVersionId, type ObjectRecord, type ObjectVersion } from "./versioned.js";
import { addressed, attributesBody, isObject, optionalTags, page, parseAttributes, patchAttributes, versionsPage } from "./wire.js";
import {
  backingSecretValue,
  certificateSigningRequest,
  generateKeyMaterial,
  issueCertificate,
  parseDistinguishedName,
  readCertificate,
  spkiOf,
  type IssuedCertificate,
  type KeyMaterial,
} from "./x509.js";

const SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
const CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
/** Issuer names with a meaning of their own; any other name must be a configured issuer. */
export const SELF_ISSUER = "Self";
export const UNKNOWN_ISSUER = "Unknown";

/** A certificate policy in the service's wire shape (snake case), with the service's defaults filled in. */
export interface WirePolicy {
  key_props: { exportable: boolean; kty: string; key_size?: number; crv?: string; reuse_key: boolean };
  secret_props: { contentType: string };
  x509_props: {
    subject: string;
    sans?: { dns_names?: string[]; emails?: string[]; upns?: string[] };
    ekus: string[];
    key_usage: string[];
    validity_months: number;
  };
  lifetime_actions: Array<{ trigger: { lifetime_percentage?: number; days_before_expiry?: number }; action: { action_type: string } }>;
  issuer: { name: string; cty?: string; cert_transparency?: boolean };
  attributes: { enabled: boolean; created: number; updated: number };
}

export interface CertificateVersion extends ObjectVersion {
  /** Absent while the version's operation has not completed. */
  cert?: IssuedCertificate;
  readonly key: KeyMaterial;
  nbf: number;
  exp: number;
}

export interface CertificateOperation {
  readonly requestId: string;
  /** The version the operation will create (its key is already made: the CSR is for it). */
  readonly version: string;
  readonly issuerName: string;
  readonly key: KeyMaterial;
  readonly csr: string;
  status: "inProgress" | "completed" | "cancelled" | "failed";
  statusDetails?: string;
  cancellationRequested: boolean;
  error?: { code: string; message: string };
  pollsRemaining: number;
  readonly tags?: Record<string, string>;
  readonly enabled: boolean;
}

export interface CertificateRecord extends ObjectRecord<CertificateVersion> {
  policy: WirePolicy;
  operation?: CertificateOperation;
}

export interface IssuerRecord {
  readonly name: string;
  provider: string;
  accountId?: string;
  enabled: boolean;
  readonly created: number;
  updated: number;
  /** The test CA that "the provider" signs with. */
  readonly ca: { subject: string; key: KeyMaterial };
}

export interface CreateCertificateInput {
  policy?: unknown;
  tags?: Record<string, string>;
  enabled?: boolean;
}

export interface SeedCertificateInput {
  issuer?: string;
  subject?: string;
  dnsNames?: string[];
  validityMonths?: number;
  notBefore?: number;
  expiresOn?: number;
  tags?: Record<string, string>;
  enabled?: boolean;
  contentType?: string;
  lifetimeActions?: WirePolicy["lifetime_actions"];
}

export class CertificateStore extends VersionedObjects<CertificateVersion, CertificateRecord> {
  private readonly issuers = new Map<string, IssuerRecord>();

  constructor(
    now: () => number,
    private readonly secrets: SecretStore,
    private readonly keys: KeyStore,
    /** GETs of …/pending answered "inProgress" before a Self/CA operation completes. */
    private readonly operationPolls: number,
    /** The vault's URL, for the backing secret's `kid`. */
    private readonly vaultUrl: () => string,
  ) {
    super(now, kvErrors.certificateNotFound);
  }

  /** Starts a new version: a pending operation with a fresh key and its CSR. */
  create(name: string, input: CreateCertificateInput): CertificateRecord {
    assertObjectName(name);
    if (input.tags) assertTags(input.tags);
    const existing = this.find(name);
    if (existing?.operation?.status === "inProgress") throw kvErrors.operationInProgress(existing.name);
    this.assertNameFree(name);
    if (input.policy === undefined && !existing) throw kvErrors.badParameter("Property 'policy' is required to create the first version of a certificate.");
    const now = this.now();
    const policy = input.policy === undefined ? existing!.policy : normalizePolicy(input.policy, existing?.policy, now);
    this.issuerOf(policy.issuer.name); // unknown issuer names are refused at create, not at completion
    const reuse = policy.key_props.reuse_key && existing?.versions.at(-1);
    const material = reuse ? existing!.versions.at(-1)!.key : generateKeyMaterial({ kty: "RSA", keySize: policy.key_props.key_size ?? 2048 });
    const versionId = newVersionId();
    const record = this.addPendingVersion(name, policy, { version: versionId, key: material, nbf: now - 600, exp: addMonths(now, policy.x509_props.validity_months), tags: input.tags }, now);
    record.operation = {
      requestId: randomBytes(16).toString("hex"),
      version: versionId,
      issuerName: policy.issuer.name,
      key: material,
      csr: certificateSigningRequest(policy.x509_props.subject, material),
      status: "inProgress",
      statusDetails: "Pending certificate created. Certificate request is in progress. This may take some time based on the issuer provider. Please check again later.",
      cancellationRequested: false,
      pollsRemaining: this.operationPolls,
      ...(input.tags === undefined ? {} : { tags: { ...input.tags } }),
      enabled: input.enabled ?? true,
    };
    return record;
  }

  /** One poll of the operation: Self/CA operations complete once their polls are used up. */
  poll(name: string): { record: CertificateRecord; operation: CertificateOperation; completed?: CertificateVersion } {
    const record = this.find(name);
    const operation = record?.operation;
    if (!record || !operation) throw kvErrors.pendingCertificateNotFound(name);
    if (operation.status !== "inProgress" || operation.issuerName.toLowerCase() === UNKNOWN_ISSUER.toLowerCase()) return { record, operation };
    if (operation.cancellationRequested) {
      operation.status = "cancelled";
      operation.statusDetails = "The certificate request was cancelled.";
      return { record, operation };
    }
    if (operation.pollsRemaining > 0) {
      operation.pollsRemaining--;
      return { record, operation };
    }
    const policy = record.policy;
    const now = this.now();
    const issuer = this.issuerOf(operation.issuerName);
    const cert = issueCertificate({
      subject: policy.x509_props.subject,
      ...(policy.x509_props.sans?.dns_names ? { dnsNames: policy.x509_props.sans.dns_names } : {}),
      ...(policy.x509_props.sans?.emails ? { emails: policy.x509_props.sans.emails } : {}),
      ekus: policy.x509_props.ekus,
      // Ten minutes of clock-skew allowance, as the service's pending versions show.
      notBefore: new Date((now - 600) * 1000),
      notAfter: new Date(addMonths(now, policy.x509_props.validity_months) * 1000),
      key: operation.key,
      ...(issuer ? { issuer: issuer.ca } : {}),
    });
    const completed = this.complete(record, operation.version, cert, operation.enabled);
    operation.status = "completed";
    delete operation.statusDetails;
    return { record, operation, completed };
  }

  /** Completes an `Unknown`-issuer operation with a certificate signed elsewhere for its key. */
  merge(name: string, x5c: Buffer[], tags: Record<string, string> | undefined, enabled: boolean | undefined): { record: CertificateRecord; version: CertificateVersion } {
    const record = this.find(name);
    const operation = record?.operation;
    if (!record || !operation) throw kvErrors.pendingCertificateNotFound(name);
    if (operation.status !== "inProgress" || operation.issuerName.toLowerCase() !== UNKNOWN_ISSUER.toLowerCase()) {
      throw kvErrors.noPendingOperation(record.name, operation.status);
    }
    if (tags) assertTags(tags);
    let read;
    try {
      read = readCertificate(x5c[0]!);
    } catch {
      throw kvErrors.badParameter("x5c[0] is not a DER X.509 certificate.");
    }
    if (!read.publicKeySpki.equals(spkiOf(operation.key))) {
      throw kvErrors.badParameter("Public key from x5c[0] does not match the key of the pending certificate request.");
    }
    const der = x5c[0]!;
    const cert: IssuedCertificate = { der, thumbprint: read.thumbprint, pem: read.pem, notBefore: read.notBefore, notAfter: read.notAfter };
    if (tags) this.pendingVersion(record, operation.version).tags = { ...tags };
    const version = this.complete(record, operation.version, cert, enabled ?? operation.enabled);
    operation.status = "completed";
    delete operation.statusDetails;
    return { record, version };
  }

  cancel(name: string): CertificateOperation {
    const record = this.find(name);
    const operation = record?.operation;
    if (!record || !operation) throw kvErrors.pendingCertificateNotFound(name);
    // The service only records the request: the operation stays inProgress (SDK recording).
    operation.cancellationRequested = true;
    return operation;
  }

  deleteOperation(name: string): { record: CertificateRecord; operation: CertificateOperation } {
    const record = this.find(name);
    const operation = record?.operation;
    if (!record || !operation) throw kvErrors.pendingCertificateNotFound(name);
    // The disabled version stays behind, as the service's does.
    delete record.operation;
    return { record, operation };
  }

  /** Direct seeding (tests, demo): a completed version with the given validity, no operation. */
  seed(name: string, input: SeedCertificateInput): { record: CertificateRecord; version: CertificateVersion } {
    assertObjectName(name);
    if (input.tags) assertTags(input.tags);
    const existing = this.find(name);
    if (existing?.operation?.status === "inProgress") throw kvErrors.operationInProgress(existing.name);
    this.assertNameFree(name);
    const now = this.now();
    const issuerName = input.issuer ?? SELF_ISSUER;
    const policy = normalizePolicy(
      {
        issuer: { name: issuerName },
        x509_props: {
          subject: input.subject ?? `CN=${name}.example.com`,
          ...(input.dnsNames ? { sans: { dns_names: input.dnsNames } } : {}),
          ...(input.validityMonths === undefined ? {} : { validity_months: input.validityMonths }),
        },
        ...(input.contentType ? { secret_props: { contentType: input.contentType } } : {}),
        ...(input.lifetimeActions ? { lifetime_actions: input.lifetimeActions } : {}),
      },
      existing?.policy,
      now,
    );
    const issuer = this.issuerOf(issuerName);
    const notBefore = input.notBefore ?? now - 600;
    const notAfter = input.expiresOn ?? addMonths(now, policy.x509_props.validity_months);
    const material = generateKeyMaterial({ kty: "RSA", keySize: policy.key_props.key_size ?? 2048 });
    const cert = issueCertificate({
      subject: policy.x509_props.subject,
      ...(input.dnsNames ? { dnsNames: input.dnsNames } : {}),
      ekus: policy.x509_props.ekus,
      notBefore: new Date(notBefore * 1000),
      notAfter: new Date(notAfter * 1000),
      key: material,
      // Unknown: a certificate "from an external CA" the owner merged earlier.
      issuer: issuer?.ca ?? (issuerName.toLowerCase() === UNKNOWN_ISSUER.toLowerCase() ? this.externalCa() : undefined),
    });
    const versionId = newVersionId();
    const record = this.addPendingVersion(name, policy, { version: versionId, key: material, nbf: notBefore, exp: notAfter, tags: input.tags }, now);
    const version = this.complete(record, versionId, cert, input.enabled ?? true);
    return { record, version };
  }

  update(name: string, version: string | undefined, patch: { tags?: Record<string, string> | null; enabled?: boolean; policy?: unknown }): { record: CertificateRecord; version: CertificateVersion } {
    const found = this.get(name, version);
    if (patch.tags) assertTags(patch.tags);
    if (patch.policy !== undefined) this.updatePolicy(name, patch.policy);
    applyAttributePatch(found.version, { ...(patch.tags === undefined ? {} : { tags: patch.tags }), ...(patch.enabled === undefined ? {} : { enabled: patch.enabled }) }, this.now());
    return found;
  }

  updatePolicy(name: string, patch: unknown): WirePolicy {
    const record = this.find(name);
    if (!record) throw kvErrors.certificateNotFound(name);
    const policy = normalizePolicy(patch, record.policy, this.now());
    this.issuerOf(policy.issuer.name);
    record.policy = policy;
    return policy;
  }

  /**
   * Certificates to list, from the first name after `marker`, with the version each is
   * listed by: the newest, or the newest completed one unless `includePending`.
   */
  *listWithVersions(includePending: boolean, marker?: string): Generator<{ record: CertificateRecord; version: CertificateVersion }> {
    for (const record of this.listAfter(marker)) {
      const latest = record.versions.at(-1);
      const version = latest?.cert || includePending ? latest : latestCompleted(record);
      if (version) yield { record, version };
    }
  }

  setIssuer(name: string, provider: string, accountId: string | undefined, enabled: boolean): IssuerRecord {
    if (!OBJECT_NAME_PATTERN.test(name) || [SELF_ISSUER, UNKNOWN_ISSUER].some((n) => n.toLowerCase() === name.toLowerCase())) {
      throw kvErrors.invalidName(name);
    }
    const now = this.now();
    const existing = this.issuers.get(name.toLowerCase());
    const issuer: IssuerRecord = existing ?? {
      name,
      provider,
      enabled,
      created: now,
      updated: now,
      ca: { subject: `CN=${provider} Test CA (keyturn double), O=${provider}`, key: generateKeyMaterial({ kty: "RSA", keySize: 2048 }) },
    };
    issuer.provider = provider;
    issuer.enabled = enabled;
    issuer.updated = now;
    if (accountId === undefined) delete issuer.accountId;
    else issuer.accountId = accountId;
    this.issuers.set(name.toLowerCase(), issuer);
    return issuer;
  }

  getIssuer(name: string): IssuerRecord {
    const issuer = this.issuers.get(name.toLowerCase());
    if (!issuer) throw kvErrors.issuerNotFound(name);
    return issuer;
  }

  deleteIssuer(name: string): IssuerRecord {
    const issuer = this.getIssuer(name);
    this.issuers.delete(name.toLowerCase());
    return issuer;
  }

  listIssuers(): IssuerRecord[] {
    return [...this.issuers.values()].sort((a, b) => (a.name.toLowerCase() < b.name.toLowerCase() ? -1 : 1));
  }

  // ---- internals ----------------------------------------------------------------------

  private externalCaKey: { subject: string; key: KeyMaterial } | undefined;

  private externalCa(): { subject: string; key: KeyMaterial } {
    this.externalCaKey ??= { subject: "CN=External Test CA (keyturn double), O=Elsewhere", key: generateKeyMaterial({ kty: "RSA", keySize: 2048 }) };
    return this.externalCaKey;
  }

  /** The configured issuer behind a policy's issuer name; undefined for Self and Unknown. */
  private issuerOf(name: string): IssuerRecord | undefined {
    const lower = name.toLowerCase();
    if (lower === SELF_ISSUER.toLowerCase() || lower === UNKNOWN_ISSUER.toLowerCase()) return undefined;
    const issuer = this.issuers.get(lower);
    if (!issuer) throw kvErrors.badParameter(`Issuer '${name}' is not Self, Unknown or an issuer configured in this vault.`);
    return issuer;
  }

  /** A certificate owns its name among secrets and keys too (its backing objects use it). */
  private assertNameFree(name: string): void {
    const secret = this.secrets.find(name);
    if (secret && !secret.versions.at(-1)?.managed) {
      throw new KeyVaultHttpError(409, "Conflict", `A secret named ${secret.name} exists; a certificate cannot use the name of a secret it does not manage.`);
    }
    const key = this.keys.find(name);
    if (key && !key.managed) throw new KeyVaultHttpError(409, "Conflict", `A key named ${key.name} exists; a certificate cannot use the name of a key it does not manage.`);
  }

  /** A new version, disabled and without its certificate until its operation completes (or seeding completes it). */
  private addPendingVersion(
    name: string,
    policy: WirePolicy,
    planned: { version: string; key: KeyMaterial; nbf: number; exp: number; tags: Record<string, string> | undefined },
    now: number,
  ): CertificateRecord {
    const { version: versionId, key, nbf, exp, tags } = planned;
    const version: CertificateVersion = {
      ...newVersionAttributes({ version: versionId, enabled: false, ...(tags === undefined ? {} : { tags }) }, now),
      key,
      nbf,
      exp,
    };
    const record = this.append(name, version, () => ({ name, versions: [], policy }));
    record.policy = policy;
    return record;
  }

  private pendingVersion(record: CertificateRecord, versionId: string): CertificateVersion {
    const version = record.versions.find((v) => v.version === versionId);
    if (!version) throw new Error(`certificate ${record.name} has no version ${versionId}`);
    return version;
  }

  /** Gives a pending version its certificate: enabled, nbf/exp from the certificate, backing key and secret. */
  private complete(record: CertificateRecord, versionId: string, cert: IssuedCertificate, enabled: boolean): CertificateVersion {
    const version = this.pendingVersion(record, versionId);
    const key = version.key;
    const nbf = Math.floor(cert.notBefore.getTime() / 1000);
    const exp = Math.floor(cert.notAfter.getTime() / 1000);
    version.cert = cert;
    version.nbf = nbf;
    version.exp = exp;
    version.enabled = enabled;
    version.updated = this.now();
    // The backing key and secret, as Key Vault keeps them: same name, same version id.
    this.keys.create(record.name, { kty: "RSA", keySize: record.policy.key_props.key_size ?? 2048, managed: true, version: versionId, material: key, nbf, exp, enabled });
    this.secrets.set(record.name, {
      value: backingSecretValue(record.policy.secret_props.contentType, cert, key),
      contentType: record.policy.secret_props.contentType,
      managed: true,
      kid: `${this.vaultUrl()}/keys/${record.name}/${versionId}`,
      version: versionId,
      nbf,
      exp,
      enabled,
    });
    return version;
  }
}

/** The newest version that has its certificate. */
export function latestCompleted(record: CertificateRecord): CertificateVersion | undefined {
  for (let i = record.versions.length - 1; i >= 0; i--) if (record.versions[i]!.cert) return record.versions[i];
  return undefined;
}

/** Unix seconds plus calendar months (UTC), as certificate validity is counted. */
function addMonths(unixSeconds: number, months: number): number {
  const d = new Date(unixSeconds * 1000);
  d.setUTCMonth(d.getUTCMonth() + months);
  return Math.floor(d.getTime() / 1000);
}

/** Merges a wire policy (possibly partial, as the SDK sends it) over `base` or the service's defaults. */
export function normalizePolicy(raw: unknown, base: WirePolicy | undefined, now: number): WirePolicy {
  if (!isObject(raw)) throw kvErrors.badParameter("Property 'policy' must be a certificate policy object.");
  const keyProps = isObject(raw.key_props) ? raw.key_props : {};
  const secretProps = isObject(raw.secret_props) ? raw.secret_props : {};
  const x509 = isObject(raw.x509_props) ? raw.x509_props : {};
  const issuer = isObject(raw.issuer) ? raw.issuer : {};
  const attributes = isObject(raw.attributes) ? raw.attributes : {};

  const kty = str(keyProps.kty) ?? base?.key_props.kty ?? "RSA";
  if (kty !== "RSA" && kty !== "RSA-HSM") throw kvErrors.badParameter(`The Key Vault double issues RSA certificates only; kty '${kty}' is not supported.`);
  const keySize = num(keyProps.key_size) ?? base?.key_props.key_size ?? 2048;
  if (![2048, 3072, 4096].includes(keySize)) throw kvErrors.badParameter("key_size must be 2048, 3072 or 4096.");
  const subject = str(x509.subject) ?? base?.x509_props.subject;
  if (!subject) throw kvErrors.badParameter("The policy needs x509_props.subject.");
  try {
    parseDistinguishedName(subject);
  } catch (error) {
    throw kvErrors.badParameter(`x509_props.subject '${subject}' is not valid: ${(error as Error).message}.`);
  }
  const validity = num(x509.validity_months) ?? base?.x509_props.validity_months ?? 12;
  if (!Number.isInteger(validity) || validity < 1 || validity > 1200) throw kvErrors.badParameter("validity_months must be a whole number from 1 to 1200.");
  const issuerName = str(issuer.name) ?? base?.issuer.name;
  if (!issuerName) throw kvErrors.badParameter("The policy needs issuer.name (Self, Unknown or a configured issuer).");
  const sans = isObject(x509.sans) ? x509.sans : undefined;
  const dnsNames = sans && Array.isArray(sans.dns_names) ? (sans.dns_names as unknown[]).filter((d): d is string => typeof d === "string") : undefined;
  const emails = sans && Array.isArray(sans.emails) ? (sans.emails as unknown[]).filter((d): d is string => typeof d === "string") : undefined;
  const upns = sans && Array.isArray(sans.upns) ? (sans.upns as unknown[]).filter((d): d is string => typeof d === "string") : undefined;
  const anySans = (dnsNames?.length ?? 0) + (emails?.length ?? 0) + (upns?.length ?? 0) > 0;
  const selfOrCa = issuerName.toLowerCase() !== UNKNOWN_ISSUER.toLowerCase();
  let lifetimeActions = base?.lifetime_actions ?? [{ trigger: { lifetime_percentage: 80 }, action: { action_type: selfOrCa ? "AutoRenew" : "EmailContacts" } }];
  if (Array.isArray(raw.lifetime_actions)) {
    lifetimeActions = (raw.lifetime_actions as unknown[]).map((a) => {
      if (!isObject(a) || !isObject(a.trigger) || !isObject(a.action)) throw kvErrors.badParameter("Each lifetime action needs a trigger and an action.");
      const type = str(a.action.action_type);
      if (type !== "AutoRenew" && type !== "EmailContacts") throw kvErrors.badParameter("action_type must be AutoRenew or EmailContacts.");
      const pct = num(a.trigger.lifetime_percentage);
      const days = num(a.trigger.days_before_expiry);
      if ((pct === undefined) === (days === undefined)) throw kvErrors.badParameter("A lifetime action's trigger needs exactly one of lifetime_percentage and days_before_expiry.");
      if (pct !== undefined && (pct < 1 || pct > 99)) throw kvErrors.badParameter("lifetime_percentage must be from 1 to 99.");
      if (type === "AutoRenew" && !selfOrCa) throw kvErrors.badParameter("AutoRenew needs issuer Self or a configured issuer; a certificate of issuer Unknown cannot renew itself.");
      return { trigger: pct !== undefined ? { lifetime_percentage: pct } : { days_before_expiry: days! }, action: { action_type: type } };
    });
  }
  const ekus = Array.isArray(x509.ekus) && x509.ekus.length > 0 ? (x509.ekus as unknown[]).filter((e): e is string => typeof e === "string") : (base?.x509_props.ekus ?? [SERVER_AUTH, CLIENT_AUTH]);
  const keyUsage = Array.isArray(x509.key_usage) && x509.key_usage.length > 0 ? (x509.key_usage as unknown[]).filter((e): e is string => typeof e === "string") : (base?.x509_props.key_usage ?? ["digitalSignature", "keyEncipherment"]);
  return {
    key_props: {
      exportable: bool(keyProps.exportable) ?? base?.key_props.exportable ?? true,
      kty,
      key_size: keySize,
      reuse_key: bool(keyProps.reuse_key) ?? base?.key_props.reuse_key ?? false,
    },
    secret_props: { contentType: str(secretProps.contentType) ?? base?.secret_props.contentType ?? "application/x-pkcs12" },
    x509_props: {
      subject,
      ...(anySans
        ? { sans: { ...(dnsNames?.length ? { dns_names: dnsNames } : {}), ...(emails?.length ? { emails } : {}), ...(upns?.length ? { upns } : {}) } }
        : isObject(raw.x509_props) && "sans" in raw.x509_props
          ? {}
          : base?.x509_props.sans
            ? { sans: base.x509_props.sans }
            : {}),
      ekus,
      key_usage: keyUsage,
      validity_months: validity,
    },
    lifetime_actions: lifetimeActions,
    issuer: {
      name: issuerName,
      ...(str(issuer.cty) ? { cty: str(issuer.cty)! } : base?.issuer.cty ? { cty: base.issuer.cty } : {}),
      ...(bool(issuer.cert_transparency) !== undefined ? { cert_transparency: bool(issuer.cert_transparency)! } : {}),
    },
    attributes: {
      enabled: bool(attributes.enabled) ?? base?.attributes.enabled ?? true,
      created: base?.attributes.created ?? now,
      updated: now,
    },
  };
}

function str(v: unknown): string | undefined {
  return typeof v === "string" && v.trim() !== "" ? v : undefined;
}
function num(v: unknown): number | undefined {
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}
function bool(v: unknown): boolean | undefined {
  return typeof v === "boolean" ? v : undefined;
}

// ---- routes -----------------------------------------------------------------------------

export const certificateRoutes: readonly Route[] = [
  { method: "GET", pattern: /^\/certificates\/?$/, operation: "GetCertificates", handle: getCertificates },
  { method: "GET", pattern: /^\/certificates\/issuers\/?$/, operation: "GetCertificateIssuers", handle: getIssuers },
  { method: "PUT", pattern: /^\/certificates\/issuers\/([^/]+)\/?$/, operation: "SetCertificateIssuer", handle: setIssuer },
  { method: "GET", pattern: /^\/certificates\/issuers\/([^/]+)\/?$/, operation: "GetCertificateIssuer", handle: getIssuer },
  { method: "DELETE", pattern: /^\/certificates\/issuers\/([^/]+)\/?$/, operation: "DeleteCertificateIssuer", handle: deleteIssuer },
  { method: "POST", pattern: /^\/certificates\/([^/]+)\/create\/?$/, operation: "CreateCertificate", handle: createCertificate },
  { method: "GET", pattern: /^\/certificates\/([^/]+)\/pending\/?$/, operation: "GetCertificateOperation", handle: getOperation },
  { method: "PATCH", pattern: /^\/certificates\/([^/]+)\/pending\/?$/, operation: "UpdateCertificateOperation", handle: updateOperation },
  { method: "DELETE", pattern: /^\/certificates\/([^/]+)\/pending\/?$/, operation: "DeleteCertificateOperation", handle: deleteOperation },
  { method: "POST", pattern: /^\/certificates\/([^/]+)\/pending\/merge\/?$/, operation: "MergeCertificate", handle: mergeCertificate },
  { method: "GET", pattern: /^\/certificates\/([^/]+)\/policy\/?$/, operation: "GetCertificatePolicy", handle: getPolicy },
  { method: "PATCH", pattern: /^\/certificates\/([^/]+)\/policy\/?$/, operation: "UpdateCertificatePolicy", handle: updatePolicy },
  { method: "GET", pattern: /^\/certificates\/([^/]+)\/versions\/?$/, operation: "GetCertificateVersions", handle: getVersions },
  { method: "GET", pattern: /^\/certificates\/([^/]+)\/?$/, operation: "GetCertificate", handle: getCertificate },
  { method: "GET", pattern: /^\/certificates\/([^/]+)\/([^/]+)\/?$/, operation: "GetCertificate", handle: getCertificate },
  { method: "PATCH", pattern: /^\/certificates\/([^/]+)\/([^/]*)\/?$/, operation: "UpdateCertificate", handle: updateCertificate },
];

function createCertificate(request: RouteRequest): RouteResponse {
  const name = request.params[0]!;
  const body = request.body === undefined ? {} : request.body;
  if (!isObject(body)) throw kvErrors.badParameter("The request body must be a JSON object.");
  const input: CreateCertificateInput = {};
  if (body.policy !== undefined && body.policy !== null) input.policy = body.policy;
  const tags = optionalTags(body.tags);
  if (tags) input.tags = tags;
  if (body.attributes !== undefined && body.attributes !== null) {
    const a = parseAttributes(body.attributes);
    if (a.enabled !== undefined) input.enabled = a.enabled;
  }
  const record = request.vault.certificates.create(name, input);
  return {
    status: 202,
    body: operationBody(request.vault, record, record.operation!),
    headers: {
      location: `${request.vault.url}/certificates/${record.name}/pending?api-version=${encodeURIComponent(request.apiVersion)}&request_id=${record.operation!.requestId}`,
      "retry-after": "10",
    },
  };
}

function getOperation(request: RouteRequest): RouteResponse {
  const { record, operation, completed } = request.vault.certificates.poll(request.params[0]!);
  if (completed) request.vault.certificateVersionCreated(record.name, completed.version);
  return { status: 200, body: operationBody(request.vault, record, operation) };
}

function updateOperation(request: RouteRequest): RouteResponse {
  const body = request.body;
  if (!isObject(body) || body.cancellation_requested !== true) {
    throw kvErrors.badParameter("The only update of a certificate operation is {\"cancellation_requested\": true}.");
  }
  const operation = request.vault.certificates.cancel(request.params[0]!);
  const { record } = { record: request.vault.certificates.find(request.params[0]!)! };
  return { status: 200, body: operationBody(request.vault, record, operation) };
}

function deleteOperation(request: RouteRequest): RouteResponse {
  const { record, operation } = request.vault.certificates.deleteOperation(request.params[0]!);
  return { status: 200, body: operationBody(request.vault, record, operation) };
}

function mergeCertificate(request: RouteRequest): RouteResponse {
  const body = request.body;
  if (!isObject(body) || !Array.isArray(body.x5c) || body.x5c.length === 0 || body.x5c.some((c) => typeof c !== "string")) {
    throw kvErrors.badParameter("Property 'x5c' must be a non-empty array of base64 DER certificates.");
  }
  const x5c = (body.x5c as string[]).map((c) => Buffer.from(c, "base64"));
  const tags = optionalTags(body.tags);
  let enabled: boolean | undefined;
  if (body.attributes !== undefined && body.attributes !== null) enabled = parseAttributes(body.attributes).enabled;
  const { record, version } = request.vault.certificates.merge(request.params[0]!, x5c, tags, enabled);
  request.vault.certificateVersionCreated(record.name, version.version);
  return { status: 201, body: certificateBundle(request.vault, record, version) };
}

function getCertificate(request: RouteRequest): RouteResponse {
  const found = addressed(request, request.vault.certificates);
  return { status: 200, body: certificateBundle(request.vault, found.record, found.version) };
}

function updateCertificate(request: RouteRequest): RouteResponse {
  const [name, version] = request.params;
  const body = request.body ?? {};
  if (!isObject(body)) throw kvErrors.badParameter("The request body must be a JSON object.");
  // A certificate's nbf and exp come from its X.509 certificate: only tags and enabled change.
  const { tags, enabled } = patchAttributes(body);
  const patch: { tags?: Record<string, string> | null; enabled?: boolean; policy?: unknown } = {
    ...(tags === undefined ? {} : { tags }),
    ...(enabled === undefined ? {} : { enabled }),
  };
  if (body.policy !== undefined && body.policy !== null) patch.policy = body.policy;
  const found = request.vault.certificates.update(name!, version || undefined, patch);
  return { status: 200, body: certificateBundle(request.vault, found.record, found.version) };
}

function getCertificates(request: RouteRequest): RouteResponse {
  const includePending = (request.query.get("includePending") ?? "").toLowerCase() === "true";
  const certificates = request.vault.certificates;
  return {
    status: 200,
    body: page(request, "/certificates", (marker) => certificates.listWithVersions(includePending, marker), ({ record }) => record.name.toLowerCase(), ({ record, version }) => certificateItem(request.vault, record, version, false)),
  };
}

// Listed like secrets and keys: ascending version-id order, 200 with no items for a
// name that does not exist.
// Listed like secrets and keys: ascending version-id order, 200 with no items for a
// name that does not exist.
function getVersions(request: RouteRequest): RouteResponse {
  return versionsPage(request, "certificates", request.vault.certificates, (record, v) => certificateItem(request.vault, record, v, true));
}

function getPolicy(request: RouteRequest): RouteResponse {
  const record = request.vault.certificates.find(request.params[0]!);
  if (!record) throw kvErrors.certificateNotFound(request.params[0]!);
  return { status: 200, body: policyBody(request.vault, record) };
}

function updatePolicy(request: RouteRequest): RouteResponse {
  const name = request.params[0]!;
  request.vault.certificates.updatePolicy(name, request.body ?? {});
  return { status: 200, body: policyBody(request.vault, request.vault.certificates.find(name)!) };
}

function setIssuer(request: RouteRequest): RouteResponse {
  const body = request.body;
  if (!isObject(body) || typeof body.provider !== "string" || body.provider.trim() === "") {
    throw kvErrors.badParameter("Property 'provider' is required (e.g. DigiCert, GlobalSign).");
  }
  const credentials = isObject(body.credentials) ? body.credentials : undefined;
  const attributes = body.attributes !== undefined && body.attributes !== null ? parseAttributes(body.attributes) : {};
  const issuer = request.vault.certificates.setIssuer(
    request.params[0]!,
    body.provider,
    typeof credentials?.account_id === "string" ? credentials.account_id : undefined,
    attributes.enabled ?? true,
  );
  return { status: 200, body: issuerBody(request.vault, issuer) };
}

function getIssuer(request: RouteRequest): RouteResponse {
  return { status: 200, body: issuerBody(request.vault, request.vault.certificates.getIssuer(request.params[0]!)) };
}

function deleteIssuer(request: RouteRequest): RouteResponse {
  return { status: 200, body: issuerBody(request.vault, request.vault.certificates.deleteIssuer(request.params[0]!)) };
}

function getIssuers(request: RouteRequest): RouteResponse {
  const issuers = request.vault.certificates.listIssuers();
  return {
    status: 200,
    body: page(request, "/certificates/issuers", issuers, (i) => i.name.toLowerCase(), (i) => ({
      id: `${request.vault.url}/certificates/issuers/${i.name}`,
      provider: i.provider,
    })),
  };
}

// ---- bodies the service returns -----------------------------------------------------------

export function certificateId(vault: VaultContext, name: string, version?: string): string {
  return version ? `${vault.url}/certificates/${name}/${version}` : `${vault.url}/certificates/${name}`;
}

function policyBody(vault: VaultContext, record: CertificateRecord): Record<string, unknown> {
  const p = record.policy;
  return {
    id: `${certificateId(vault, record.name)}/policy`,
    key_props: { ...p.key_props },
    secret_props: { ...p.secret_props },
    x509_props: { ...p.x509_props, sans: { ...p.x509_props.sans }, basic_constraints: { ca: false } },
    lifetime_actions: p.lifetime_actions.map((a) => ({ trigger: { ...a.trigger }, action: { ...a.action } })),
    issuer: { ...p.issuer },
    attributes: { ...p.attributes },
  };
}

function certificateBundle(vault: VaultContext, record: CertificateRecord, version: CertificateVersion): Record<string, unknown> {
  const pending = record.operation?.version === version.version && !version.cert;
  return {
    id: certificateId(vault, record.name, version.version),
    ...(version.cert
      ? {
          kid: `${vault.url}/keys/${record.name}/${version.version}`,
          sid: `${vault.url}/secrets/${record.name}/${version.version}`,
          x5t: version.cert.thumbprint.toString("base64url"),
          cer: version.cert.der.toString("base64"),
        }
      : {}),
    attributes: attributesBody(vault, version),
    policy: policyBody(vault, record),
    ...(version.tags === undefined ? {} : { tags: { ...version.tags } }),
    ...(pending ? { pending: { id: `${certificateId(vault, record.name)}/pending` } } : {}),
  };
}

function certificateItem(vault: VaultContext, record: CertificateRecord, version: CertificateVersion, withVersion: boolean): Record<string, unknown> {
  return {
    id: certificateId(vault, record.name, withVersion ? version.version : undefined),
    ...(version.cert ? { x5t: version.cert.thumbprint.toString("base64url") } : {}),
    attributes: attributesBody(vault, version),
    ...(version.tags === undefined ? {} : { tags: { ...version.tags } }),
  };
}

function operationBody(vault: VaultContext, record: CertificateRecord, operation: CertificateOperation): Record<string, unknown> {
  return {
    id: `${certificateId(vault, record.name)}/pending`,
    issuer: { name: operation.issuerName },
    csr: operation.csr,
    cancellation_requested: operation.cancellationRequested,
    status: operation.status,
    ...(operation.statusDetails === undefined ? {} : { status_details: operation.statusDetails }),
    ...(operation.error === undefined ? {} : { error: { ...operation.error } }),
    ...(operation.status === "completed" ? { target: certificateId(vault, record.name) } : {}),
    request_id: operation.requestId,
  };
}

function issuerBody(vault: VaultContext, issuer: IssuerRecord): Record<string, unknown> {
  return {
    id: `${vault.url}/certificates/issuers/${issuer.name}`,
    provider: issuer.provider,
    ...(issuer.accountId === undefined ? {} : { credentials: { account_id: issuer.accountId } }),
    attributes: { enabled: issuer.enabled, created: issuer.created, updated: issuer.updated },
  };
}
