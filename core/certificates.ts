// Certificates near expiry (CertificateNearExpiry events and the sweep).
//
// - Issuer `Self`, or an issuer whose provider Key Vault integrates with (DigiCert,
//   GlobalSign): keyturn RENEWS — a new version from the certificate's existing policy
//   (`beginCreateCertificate(name, policy)`), polls the operation until it completes,
//   and tells the owner (`keyturn.CertificateRenewed`). An operation already in progress
//   (Key Vault's own AutoRenew, or an earlier renewal) is joined, never duplicated. A CA
//   slower than `renewalTimeoutMs` leaves the operation running in Key Vault; the next
//   sweep finds it and waits again.
// - Issuer `Unknown` (any CA Key Vault does not talk to), or a provider keyturn does not
//   know: keyturn cannot renew; it REMINDS the owner (`keyturn.CertificateExpiring`) of
//   the days remaining when they cross 30, 14, 7, 3 and 1 (and once when expired).
//
// Reminder state lives on the certificate version itself, as the tag
// `KeyturnReminded=<threshold>@<version>`: it survives restarts and is shared by every
// instance (scale-out) without another store, and a new version — whoever makes it —
// starts with no reminders, because the tag names the version it was written for. The
// tag is written BEFORE the reminder is sent, under the certificate's lock: at most one
// reminder per version and threshold, even when an event and the sweep race (a failed
// channel loses that reminder, and the next threshold still comes). A certificate that
// already carries 15 tags cannot take the tag: keyturn then reminds on every pass and
// logs why.
//
// Owners are read from the certificate's `Owner` tag; `RotationPaused=true` stops
// keyturn from acting on the certificate (events and sweep). Nothing here reads a
// private key or the certificate's secret: properties, policy and operation only.
import type { CertificateClient, CertificateOperation, CertificatePolicy, KeyVaultCertificateWithPolicy } from "@azure/keyvault-certificates";
import { ProviderError, classify, classifyObjectRead, describeError, mustReport, type KeyturnError } from "./errors.js";
import type { Logger } from "./log.js";
import { NotificationType, type Notifier, type ObjectNotification } from "./notify.js";
import { ObjectKind, PreambleSkip, guarded, type GuardedRequest, type PreambleDeps, type Skipped } from "./preamble.js";
import { MAX_TAGS, NEAR_EXPIRY_DAYS, Tag, tagKey, tagValue, type Tags } from "./tags.js";

const DAY_MS = 86_400_000;

/** Days before expiry at which an owner of a certificate keyturn cannot renew is reminded. */
export const REMINDER_THRESHOLDS = [30, 14, 7, 3, 1] as const;
/** The threshold recorded for the one notice after expiry. */
export const EXPIRED_THRESHOLD = 0;

export const CertificateTag = {
  /** `<threshold>@<version>`: the last reminder sent for that version. Written by keyturn. */
  Reminded: "KeyturnReminded",
} as const;

export const SELF_ISSUER = "Self";
export const UNKNOWN_ISSUER = "Unknown";
/** Issuer providers Key Vault requests certificates from by itself. */
export const INTEGRATED_PROVIDERS: readonly string[] = ["DigiCert", "GlobalSign"];

export type IssuerKind =
  | { readonly renewable: true; readonly issuer: string; readonly provider: string }
  | { readonly renewable: false; readonly issuer: string; readonly reason: string };

export const CertificateSkip = {
  StaleEvent: PreambleSkip.StaleEvent,
  Paused: PreambleSkip.Paused,
  Disabled: "disabled",
  NotDue: "not-due",
  AlreadyReminded: "already-reminded",
  RecentlyRenewed: "recently-renewed",
  NoCompletedVersion: "no-completed-version",
} as const;
export type CertificateSkip = (typeof CertificateSkip)[keyof typeof CertificateSkip];

export type CertificateOutcome =
  | { readonly status: "renewed"; readonly name: string; readonly version: string; readonly previousVersion: string; readonly expiresOn: string; readonly issuer: string }
  | {
      readonly status: "reminded";
      readonly name: string;
      readonly version: string;
      readonly threshold: number;
      readonly daysRemaining: number;
      readonly expiresOn: string;
      readonly issuer: string;
    }
  /** The CA has not finished within the wait: the operation runs on in Key Vault. */
  | { readonly status: "pending"; readonly name: string; readonly version: string; readonly issuer: string }
  | Skipped<CertificateSkip>;

/** `expectedVersion`: when a newer completed version exists, there is nothing to do. */
export type CertificateRequest = GuardedRequest;

export interface CertificateDeps extends PreambleDeps {
  readonly notifier: Notifier;
  certificateClient(vaultUrl: string): Promise<CertificateClient>;
  /** Between polls of a renewal operation; default 5 s (tests use a few ms). */
  readonly pollIntervalMs?: number;
  /** How long one invocation waits for a renewal to complete; default 2 minutes. */
  readonly renewalTimeoutMs?: number;
}

export interface CertificateService {
  handle(request: CertificateRequest): Promise<CertificateOutcome>;
}

/** The reminder due for `daysRemaining`: the smallest threshold not below it; 0 once expired; undefined beyond 30 days. */
export function reminderThreshold(daysRemaining: number): number | undefined {
  if (daysRemaining <= 0) return EXPIRED_THRESHOLD;
  let due: number | undefined;
  for (const t of REMINDER_THRESHOLDS) if (daysRemaining <= t) due = t;
  return due;
}

/** Whole days until `expiresOn`, rounded up (a certificate with 6.2 days left has 7 days' notice). */
export function daysUntil(expiresOn: Date, now: Date): number {
  const days = Math.ceil((expiresOn.getTime() - now.getTime()) / DAY_MS);
  return days === 0 ? 0 : days; // not -0
}

/** The reminder recorded for this version, from `KeyturnReminded=<threshold>@<version>`. */
export function remindedThreshold(tags: Tags, version: string): number | undefined {
  const m = /^(\d{1,3})@([0-9a-zA-Z]+)$/.exec(tagValue(tags, CertificateTag.Reminded) ?? "");
  if (!m || m[2] !== version) return undefined;
  return Number(m[1]);
}

/** Tags for a new version: the owner's, without keyturn's per-version state. */
export function tagsForNewVersion(tags: Tags): Record<string, string> {
  const out: Record<string, string> = { ...tags };
  const key = tagKey(tags, CertificateTag.Reminded);
  if (key !== undefined) delete out[key];
  return out;
}

export function createCertificateService(deps: CertificateDeps): CertificateService {
  const now = deps.now ?? (() => new Date());
  /** Failures renew already reported to the owner: handle must not report them again. */
  const reported = new WeakSet<KeyturnError>();
  const pollIntervalMs = deps.pollIntervalMs ?? 5_000;
  const renewalTimeoutMs = deps.renewalTimeoutMs ?? 120_000;

  async function classifyIssuer(client: CertificateClient, issuer: string): Promise<IssuerKind> {
    if (issuer.toLowerCase() === SELF_ISSUER.toLowerCase()) return { renewable: true, issuer: SELF_ISSUER, provider: SELF_ISSUER };
    if (issuer.toLowerCase() === UNKNOWN_ISSUER.toLowerCase()) {
      return { renewable: false, issuer: UNKNOWN_ISSUER, reason: "its issuer is Unknown: a CA Key Vault does not request certificates from" };
    }
    try {
      const found = await client.getIssuer(issuer);
      const provider = found.provider ?? "";
      const integrated = INTEGRATED_PROVIDERS.find((p) => p.toLowerCase() === provider.toLowerCase());
      if (integrated) return { renewable: true, issuer, provider: integrated };
      return { renewable: false, issuer, reason: `its issuer ${issuer} uses provider ${provider || "(none)"}, which Key Vault does not request certificates from` };
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return { renewable: false, issuer, reason: `its issuer ${issuer} is not configured in the vault` };
      throw error;
    }
  }

  /**
   * The version in service: the newest version that has its certificate. While a new
   * version's operation runs, Key Vault's "latest" is that pending version (disabled,
   * no `cer`); the one in service is the newest completed one before it.
   */
  async function inService(client: CertificateClient, latest: KeyVaultCertificateWithPolicy, name: string): Promise<KeyVaultCertificateWithPolicy | undefined> {
    if (latest.cer && latest.cer.length > 0) return latest;
    let best: { version: string; created: number } | undefined;
    for await (const p of client.listPropertiesOfCertificateVersions(name)) {
      if (!p.version || !p.x509Thumbprint || p.version === latest.properties.version) continue;
      const created = p.createdOn?.getTime() ?? 0;
      if (!best || created > best.created) best = { version: p.version, created };
    }
    if (!best) return undefined;
    const version = await client.getCertificateVersion(name, best.version);
    return { ...version, policy: latest.policy };
  }

  /** The operation now running for the certificate, if any (PendingCertificateNotFound otherwise). */
  async function runningOperation(client: CertificateClient, name: string) {
    try {
      const poller = await client.getCertificateOperation(name, { intervalInMs: pollIntervalMs });
      const state = poller.getOperationState().certificateOperation;
      return state?.status === "inProgress" ? poller : undefined;
    } catch (error) {
      if ((error as { statusCode?: number }).statusCode === 404) return undefined;
      throw error;
    }
  }

  function base(req: CertificateRequest, active: KeyVaultCertificateWithPolicy, issuer: string, owner: string | undefined) {
    return {
      objectType: "certificate" as const,
      vault: req.vault.name,
      vaultUrl: req.vault.url,
      name: req.name,
      trigger: req.trigger.kind,
      triggerId: req.trigger.id,
      issuer,
      ...(owner !== undefined ? { owner } : {}),
      ...(active.properties.version ? { version: active.properties.version } : {}),
      ...(active.properties.expiresOn ? { expiresOn: active.properties.expiresOn.toISOString() } : {}),
    };
  }

  async function renew(
    client: CertificateClient,
    req: CertificateRequest,
    active: KeyVaultCertificateWithPolicy,
    policy: CertificatePolicy,
    kind: Extract<IssuerKind, { renewable: true }>,
    log: Logger,
    tooRecent: (createdOn: Date | undefined) => boolean,
  ): Promise<CertificateOutcome> {
    const tags = active.properties.tags ?? {};
    const owner = tagValue(tags, Tag.Owner);
    const previousVersion = active.properties.version ?? "";
    const running = await runningOperation(client, req.name);
    let step = "create";
    try {
      let poller;
      if (running) {
        // Key Vault's own AutoRenew, or a renewal an earlier invocation started: wait for it.
        log.info("a renewal is already running; waiting for it", { step: "renew", version: previousVersion });
        poller = running;
      } else {
        // An operation that finished while we looked has made the new version already.
        const newest = await client.getCertificate(req.name);
        if (newest.cer && newest.cer.length > 0 && newest.properties.version !== previousVersion) {
          log.info("renewed meanwhile; nothing to do", { step: "renew", version: newest.properties.version });
          return { status: "skipped", name: req.name, version: newest.properties.version ?? "", reason: CertificateSkip.StaleEvent };
        }
        if (tooRecent(active.properties.createdOn)) {
          log.info("the version in service is younger than the rotation guard; not renewing again", { step: "renew", version: previousVersion });
          return { status: "skipped", name: req.name, version: previousVersion, reason: CertificateSkip.RecentlyRenewed };
        }
        poller = await client.beginCreateCertificate(req.name, policy, { tags: tagsForNewVersion(tags), intervalInMs: pollIntervalMs });
        log.info("renewal started", { step: "renew", version: previousVersion, issuer: kind.issuer });
      }
      step = "poll";
      // Our own loop rather than pollUntilDone: a CA may take hours, and an invocation
      // must not. What is left runs on in Key Vault; the next sweep joins it.
      const deadline = Date.now() + renewalTimeoutMs;
      while (!poller.isDone()) {
        if (Date.now() >= deadline) {
          poller.stopPolling();
          log.warn("renewal not complete yet; the operation continues in Key Vault", { step: "poll", issuer: kind.issuer });
          return { status: "pending", name: req.name, version: previousVersion, issuer: kind.issuer };
        }
        await new Promise((resolve) => setTimeout(resolve, pollIntervalMs));
        await poller.poll();
      }
      // The create poller's state does not carry the operation: read how it ended.
      const ended = await client.getCertificateOperation(req.name);
      const operation: CertificateOperation | undefined = ended.getOperationState().certificateOperation;
      if (operation?.status !== "completed") {
        throw new ProviderError(`the certificate operation ended ${operation?.status ?? "without a status"}${operation?.error?.message ? `: ${operation.error.message}` : ""}`);
      }
      const renewed = await client.getCertificate(req.name);
      const version = renewed.properties.version ?? "";
      const expiresOn = renewed.properties.expiresOn?.toISOString() ?? "";
      log.info("certificate renewed", { step: "renew", version, previousVersion, issuer: kind.issuer });
      const notice: ObjectNotification = {
        ...base(req, active, kind.issuer, owner),
        type: NotificationType.CertificateRenewed,
        version,
        previousVersion,
        expiresOn,
      };
      await deps.notifier.notify(notice, req.trigger.log);
      return { status: "renewed", name: req.name, version, previousVersion, expiresOn, issuer: kind.issuer };
    } catch (raw) {
      const error = classify(raw, `certificate ${step}`);
      if (mustReport(error)) {
        log.error("certificate renewal failed", { step, error: describeError(error) });
        await deps.notifier.notify({ ...base(req, active, kind.issuer, owner), type: NotificationType.CertificateRenewalFailed, step, error: describeError(error) }, req.trigger.log);
        reported.add(error);
      }
      throw error;
    }
  }

  async function remind(
    client: CertificateClient,
    req: CertificateRequest,
    active: KeyVaultCertificateWithPolicy,
    kind: Extract<IssuerKind, { renewable: false }>,
    daysRemaining: number,
    log: Logger,
  ): Promise<CertificateOutcome> {
    const tags = active.properties.tags ?? {};
    const version = active.properties.version ?? "";
    const threshold = reminderThreshold(daysRemaining);
    if (threshold === undefined) return { status: "skipped", name: req.name, version, reason: CertificateSkip.NotDue };
    const reminded = remindedThreshold(tags, version);
    if (reminded !== undefined && reminded <= threshold) {
      return { status: "skipped", name: req.name, version, reason: CertificateSkip.AlreadyReminded };
    }
    // Record first, then send: at most one reminder per version and threshold.
    const next: Record<string, string> = { ...tags };
    next[tagKey(tags, CertificateTag.Reminded) ?? CertificateTag.Reminded] = `${threshold}@${version}`;
    if (Object.keys(next).length > MAX_TAGS) {
      log.warn(`the certificate carries ${MAX_TAGS} tags: the reminder cannot be recorded and will be sent again on the next pass`, { step: "remind", version });
    } else {
      await client.updateCertificateProperties(req.name, version, { tags: next });
    }
    const pending = await runningOperation(client, req.name);
    const expiresOn = active.properties.expiresOn!.toISOString();
    const action = pending
      ? `A certificate request for a new version is pending in the vault: have its CSR signed by your CA and merge the certificate (az keyvault certificate pending merge --vault-name ${req.vault.name} --name ${req.name} --file <signed.pem>).`
      : `Renew it with your CA: create a new version (az keyvault certificate create --vault-name ${req.vault.name} --name ${req.name} --policy @policy.json), have the CSR signed, and merge the certificate, or import a new one.`;
    await deps.notifier.notify({
      ...base(req, active, kind.issuer, tagValue(tags, Tag.Owner)),
      type: NotificationType.CertificateExpiring,
      daysRemaining,
      threshold,
      action: `${action} (${kind.reason}.)`,
    }, req.trigger.log);
    log.info("certificate expiry reminder sent", { step: "remind", version, threshold, daysRemaining, issuer: kind.issuer });
    return { status: "reminded", name: req.name, version, threshold, daysRemaining, expiresOn, issuer: kind.issuer };
  }

  async function handle(req: CertificateRequest): Promise<CertificateOutcome> {
    let latest: KeyVaultCertificateWithPolicy;
    let client: CertificateClient;
    let step = "lock";
    return guarded<KeyVaultCertificateWithPolicy, CertificateOutcome>(deps, req, {
      what: ObjectKind.Certificate,
      busy: `certificate ${req.name} is being handled by another invocation`,
      load: async () => {
        step = "load";
        client = await deps.certificateClient(req.vault.url);
        latest = await client.getCertificate(req.name);
        const active = await inService(client, latest, req.name);
        if (!active) return { outcome: { status: "skipped", name: req.name, reason: CertificateSkip.NoCompletedVersion } };
        return { object: active, version: active.properties.version ?? "", tags: active.properties.tags ?? {} };
      },
      skipped: (reason, { version }) => ({ status: "skipped", name: req.name, version, reason }),
      work: async ({ loaded: { object: active, version }, log, tooRecent }) => {
        if (active.properties.enabled === false) return { status: "skipped", name: req.name, version, reason: CertificateSkip.Disabled };
        const expiresOn = active.properties.expiresOn;
        if (!expiresOn) return { status: "skipped", name: req.name, version, reason: CertificateSkip.NotDue };
        let daysRemaining = daysUntil(expiresOn, now());
        // Key Vault sent the event because the version is near expiry: a clock a little
        // behind the vault's must not turn that into "not due".
        if (req.trigger.kind === "event") daysRemaining = Math.min(daysRemaining, NEAR_EXPIRY_DAYS);
        else if (daysRemaining > NEAR_EXPIRY_DAYS) return { status: "skipped", name: req.name, version, reason: CertificateSkip.NotDue };
        step = "policy";
        const policy = latest.policy ?? (await client.getCertificatePolicy(req.name));
        const kind = await classifyIssuer(client, policy.issuerName ?? UNKNOWN_ISSUER);
        step = kind.renewable ? "renew" : "remind";
        return kind.renewable ? await renew(client, req, active, policy, kind, log, tooRecent) : await remind(client, req, active, kind, daysRemaining, log);
      },
      // Every failure, the lock's and loading's included, leaves as a classified
      // KeyturnError (the trigger asks it whether to retry); a permanent one that renew
      // did not report yet is reported here, once.
      failed: async (raw, log) => {
        const error = step === "load" ? classifyObjectRead(raw, "certificate load") : classify(raw, `certificate ${step}`);
        if (mustReport(error) && !reported.has(error)) {
          log.error("certificate handling failed", { step, errorKind: error.kind, error: describeError(error) });
          await deps.notifier.notify({
            objectType: "certificate",
            vault: req.vault.name,
            vaultUrl: req.vault.url,
            name: req.name,
            trigger: req.trigger.kind,
            triggerId: req.trigger.id,
            type: NotificationType.CertificateRenewalFailed,
            step,
            error: describeError(error),
          }, req.trigger.log);
        } else if (error.transient) {
          log.warn("certificate handling failed with a transient error; the trigger will retry", { step, error: describeError(error) });
        }
        return error;
      },
    });
  }

  return { handle };
}
