// The embedded demo of `npm start` with no Azure configuration: a local Key Vault
// double with a demo vault, a local notification topic, and a few secrets close to
// expiry that the user watches keyturn rotate within seconds; one of them is a storage
// account key, rotated against the ARM double's storage account and verified against
// its blob endpoint (which checks Shared Key signatures for real). Beside them, a
// self-signed TLS certificate near expiry (keyturn renews it), one from an outside CA
// (keyturn reminds its owner), and a customer-managed key near expiry without a rotation
// policy (keyturn sets its default policy, as the key's tag asks, and rotates it). The
// storage key has a consumer: an App Service app whose setting is a Key Vault reference,
// which keyturn refreshes after the commit and proves resolves the new version.
import { keyVaultResolver } from "../emulators/arm/consumers.js";
import { startArmEmulator } from "../emulators/arm/index.js";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../emulators/keyvault/index.js";
import { startEventGridTopic, type EventGridTopicEmulator } from "../emulators/eventgrid-topic/index.js";
import { testTls } from "../emulators/tls.js";
import type { LocalHost } from "./host.js";

export const DEMO_VAULT = "demo-kv";
export const DEMO_STORAGE_ACCOUNT = "keyturndemo";
export const DEMO_CONSUMER_APP = "demo-orders-app";
const DAY_MS = 86_400_000;

export interface Demo {
  readonly keyVault: KeyVaultEmulator;
  readonly topic: EventGridTopicEmulator;
  readonly caFile: string;
  /** Subscribe the host to the vault's events and seed the demo secrets. */
  start(host: LocalHost): Promise<void>;
  stop(): Promise<void>;
}

/** Start the doubles and point keyturn's settings at them (before the runtime is built). */
export async function prepareDemo(print: (line: string) => void): Promise<Demo> {
  const tls = testTls();
  const keyVault = await startKeyVaultEmulator({ vaults: [DEMO_VAULT], tls });
  const topic = await startEventGridTopic({ tls });
  const arm = await startArmEmulator({ tls });
  const storage = arm.addStorageAccount({ name: DEMO_STORAGE_ACCOUNT });
  arm.consumers.resolveSecret = keyVaultResolver([{ name: DEMO_VAULT, url: keyVault.url(DEMO_VAULT) }], tls.caPem);
  process.env.KEYTURN_VAULTS = `${DEMO_VAULT}=${keyVault.url(DEMO_VAULT)}`;
  process.env.KEYTURN_CREDENTIAL = "local-emulator";
  process.env.KEYTURN_TLS_CA_FILE = tls.caFile;
  process.env.KEYTURN_NOTIFY_TOPIC_ENDPOINT = topic.endpoint;
  process.env.KEYTURN_ARM_ENDPOINT = arm.url;
  // The audit reads the demo vault's properties from the ARM double.
  const vaultResource = arm.addVault({ name: DEMO_VAULT, vaultUri: `${keyVault.url(DEMO_VAULT)}/`, purgeProtection: false });
  process.env.KEYTURN_VAULT_RESOURCE_IDS = vaultResource.id;
  // The demo seeds versions that are seconds old and already near expiry; the
  // rotation-loop guard would (rightly) refuse to rotate such young versions again.
  process.env.KEYTURN_ROTATION_GUARD_MINUTES ??= "0";

  topic.onEvent((e) => {
    const d = e.data as Record<string, string | undefined>;
    if (e.type === "keyturn.SecretRotated") {
      print(`notified: ${d.secret} rotated by ${d.rotator} (${d.trigger}); new version ${d.version}, expires ${d.expiresOn}; owner ${d.owner ?? "-"}`);
      for (const c of (e.data as { consumers?: Array<{ id: string; status: string; versions?: string[] }> }).consumers ?? []) {
        print(`  consumer ${c.id.split("/").at(-1)}: ${c.status}${c.versions?.length ? ` (resolves ${c.versions.join(", ")})` : ""}`);
      }
    } else if (e.type === "keyturn.CertificateRenewed") {
      print(`notified: certificate ${d.name} renewed (issuer ${d.issuer}, ${d.trigger}); new version ${d.version}, expires ${d.expiresOn}; owner ${d.owner ?? "-"}`);
    } else if (e.type === "keyturn.CertificateExpiring") {
      print(`notified: certificate ${d.name} (issuer ${d.issuer}) expires in ${String(e.data.daysRemaining)} days: keyturn cannot renew it; owner ${d.owner ?? "-"} reminded`);
    } else if (e.type === "keyturn.KeyRotated") {
      print(`notified: key ${d.name} rotated (${d.trigger}); new version ${d.version}, expires ${d.expiresOn ?? "never"}${d.policyApplied ? `; rotation policy set: ${d.policyApplied}` : ""}`);
    } else if (e.type === "keyturn.KeyPolicyMissing" || e.type === "keyturn.KeyPolicySet") {
      print(`notified: ${e.type} for key ${d.name}`);
    } else {
      print(`notified: ${e.type} for ${d.secret} at step ${d.step}: ${d.error}`);
    }
  });

  return {
    keyVault,
    topic,
    caFile: tls.caFile,
    async start(host) {
      await keyVault.subscribe({ vault: DEMO_VAULT, endpoint: host.webhookUrl("keyVaultEvents"), schema: "EventGridSchema" });
      const now = Date.now();
      const seed = (name: string, days: number, tags: Record<string, string>) =>
        keyVault.seedSecret(DEMO_VAULT, name, `demo-initial-${name}-${now}`, {
          tags: { Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "demo-team@example.com", ...tags },
          expiresOn: new Date(now + days * DAY_MS),
          notBefore: new Date(now - DAY_MS),
        });
      seed("demo-api-key", 12, {});
      seed("demo-shared-password", 3, { SecretLength: "24", SecretCharacters: "lower,upper,digit" });
      seed("demo-signing-secret", -1, { SecretLength: "64", ValidityPeriodDays: "90" });
      // A storage account key (key1) of the ARM double's account: keyturn regenerates key2,
      // proves it with a signed blob request and commits it with CredentialId=key2. The
      // ProviderAddress alone selects the storage-account-key rotator.
      // Its consumer, an App Service app, reads it through a Key Vault reference.
      const consumerId = storage.id.replace(/providers\/.*$/, `providers/Microsoft.Web/sites/${DEMO_CONSUMER_APP}`);
      keyVault.seedSecret(DEMO_VAULT, "demo-storage-key", storage.keys().key1, {
        tags: { ProviderAddress: storage.id, CredentialId: "key1", ValidityPeriodDays: "60", Owner: "demo-storage@example.com", Consumers: consumerId },
        expiresOn: new Date(now + 7 * DAY_MS),
        notBefore: new Date(now - DAY_MS),
      });
      await arm.consumers.addSite({ name: DEMO_CONSUMER_APP, appSettings: { ORDERS_STORAGE_KEY: `@Microsoft.KeyVault(VaultName=${DEMO_VAULT};SecretName=demo-storage-key)` } }).ready;
      // Not managed by keyturn: no rotation tags. Its near-expiry event is acknowledged and left alone.
      keyVault.seedSecret(DEMO_VAULT, "demo-unmanaged", `demo-unmanaged-${now}`, { expiresOn: new Date(now + 5 * DAY_MS) });
      // A self-signed TLS certificate 20 days from expiry whose policy does not renew it by
      // itself (EmailContacts, not AutoRenew): keyturn renews it from that policy.
      keyVault.seedCertificate(DEMO_VAULT, "demo-web-tls", {
        subject: "CN=demo.example.com",
        dnsNames: ["demo.example.com"],
        notBefore: new Date(now - 345 * DAY_MS),
        expiresOn: new Date(now + 20 * DAY_MS),
        tags: { Owner: "demo-web@example.com" },
        lifetimeActions: [{ trigger: { days_before_expiry: 10 }, action: { action_type: "EmailContacts" } }],
      });
      // A certificate from a CA Key Vault does not talk to (issuer Unknown): keyturn cannot
      // renew it, so it reminds the owner (14-day threshold: 9 days left).
      keyVault.seedCertificate(DEMO_VAULT, "demo-partner-tls", {
        issuer: "Unknown",
        subject: "CN=partner.example.com",
        notBefore: new Date(now - 356 * DAY_MS),
        expiresOn: new Date(now + 9 * DAY_MS),
        tags: { Owner: "demo-partner@example.com" },
      });
      // A customer-managed key near expiry without a rotation policy; its tag asks for keyturn's.
      keyVault.seedKey(DEMO_VAULT, "demo-storage-cmk", {
        expiresOn: new Date(now + 10 * DAY_MS),
        tags: { Owner: "demo-storage@example.com", RotationPolicy: "default" },
      });
      print(`  audit the demo vault:   curl -s '${host.url}/api/vaults/${DEMO_VAULT}/audit?format=html' > audit.html`);
      print(`  run the sweep now:      curl -s -X POST ${host.url}/admin/functions/sweep`);
    },
    async stop() {
      await keyVault.stop();
      await topic.stop();
      await arm.stop();
    },
  };
}
