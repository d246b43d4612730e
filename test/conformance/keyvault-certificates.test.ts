// Conformance of the Key Vault double's certificates, for what keyturn's certificate
// renewal relies on (sources named per test; see keyvault-secrets.test.ts).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { wire } from "./wire.js";

const SPEC_EXAMPLES = "Azure/azure-rest-api-specs specification/keyvault/data-plane/Microsoft.KeyVault/stable";
const VAULT = "kv-conform-certs";
let kv: KeyVaultEmulator;
const call = (path: string, init: Parameters<typeof wire>[2] = {}) =>
  wire(`${kv.url(VAULT)}${path}${path.includes("?") ? "&" : "?"}api-version=2025-07-01`, kv.tls.caPem, init);

const SELF_POLICY = {
  policy: {
    key_props: { exportable: true, kty: "RSA", key_size: 2048, reuse_key: false },
    secret_props: { contentType: "application/x-pkcs12" },
    x509_props: { subject: "CN=conformance.example", validity_months: 12 },
    issuer: { name: "Self" },
  },
};

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT], certificateOperationPolls: 1 });
});
afterAll(async () => kv?.stop());

describe("certificate operations", () => {
  it(`create answers 202 with the pending CertificateOperation: id …/pending, issuer, csr, cancellation_requested false, status inProgress, status_details, request_id (${SPEC_EXAMPLES}/7.5/examples/CreateCertificate-example.json)`, async () => {
    const res = await call("/certificates/conform-tls/create", { method: "POST", body: SELF_POLICY });
    expect(res.status).toBe(202);
    expect(res.json).toMatchObject({
      id: `${kv.url(VAULT)}/certificates/conform-tls/pending`,
      issuer: { name: "Self" },
      csr: expect.any(String),
      cancellation_requested: false,
      status: "inProgress",
      status_details: expect.any(String),
      request_id: expect.stringMatching(/^[0-9a-f]{32}$/),
    });
  });

  it(`the pending operation reads the same shape while in progress, then completed (${SPEC_EXAMPLES}/2025-06-01/examples/GetCertificateOperation-example.json)`, async () => {
    const first = await call("/certificates/conform-tls/pending");
    expect(first.status).toBe(200);
    expect(first.json).toMatchObject({ id: `${kv.url(VAULT)}/certificates/conform-tls/pending`, status: "inProgress", issuer: { name: "Self" } });
    const second = await call("/certificates/conform-tls/pending");
    expect(second.json.status).toBe("completed");
  });

  it(`the versions of a certificate that does not exist are 200 with an empty list, like secrets' and keys' (docs/test-doubles.md: assumed, not recorded)`, async () => {
    const res = await call("/certificates/never-made/versions");
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ value: [], nextLink: null });
  });
});
