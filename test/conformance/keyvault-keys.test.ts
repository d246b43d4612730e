// Conformance of the Key Vault double's keys to the real service, as far as keyturn's key
// rotation relies on them (sources named per test; see keyvault-secrets.test.ts).
import { KeyClient } from "@azure/keyvault-keys";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startKeyVaultEmulator, type KeyVaultEmulator } from "../../emulators/keyvault/index.js";
import { localToken } from "../support/keyvault.js";
import { RECORDINGS, wire } from "./wire.js";

const VAULT = "kv-conform-keys";
let kv: KeyVaultEmulator;
let keys: KeyClient;

beforeAll(async () => {
  kv = await startKeyVaultEmulator({ vaults: [VAULT] });
  keys = new KeyClient(kv.url(VAULT), localToken, {
    disableChallengeResourceVerification: true,
    tlsOptions: { ca: kv.tls.caPem },
    retryOptions: { maxRetries: 0 },
  });
});
afterAll(async () => kv?.stop());

describe("key versions", () => {
  it(`lists a key's versions in ascending version-id order, paged with maxresults and $skiptoken (${RECORDINGS.keys}/keys_client__list_keys_in_various_ways/recording_can_get_the_versions_of_a_key_paged.json)`, async () => {
    const written: string[] = [];
    written.push((await keys.createRsaKey("ordered-key")).properties.version!);
    for (let i = 0; i < 3; i++) written.push((await keys.rotateKey("ordered-key")).properties.version!);
    const listed: string[] = [];
    for await (const p of keys.listPropertiesOfKeyVersions("ordered-key")) listed.push(p.version!);
    expect(listed).toEqual([...written].sort());
    const first = await wire(`${kv.url(VAULT)}/keys/ordered-key/versions?api-version=2025-07-01&maxresults=1`, kv.tls.caPem, { token: "t" });
    expect(first.json.value).toHaveLength(1);
    expect(first.json.nextLink).toMatch(/\/keys\/ordered-key\/versions\?api-version=2025-07-01&\$skiptoken=[^&]+&maxresults=1$/);
  });

  it(`answers the versions of a key that does not exist with 200 and an empty list (${RECORDINGS.keys}/keys_client__list_keys_in_various_ways/recording_list_0_versions_of_a_nonexisting_key.json)`, async () => {
    const res = await wire(`${kv.url(VAULT)}/keys/no-such-key/versions?api-version=2025-07-01`, kv.tls.caPem, { token: "t" });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ value: [], nextLink: null });
  });

  it(`answers a missing key 404 KeyNotFound (${RECORDINGS.keys}/keys_client__list_keys_in_various_ways/recording_can_get_the_versions_of_a_key_paged.json shows the error shape for deleted keys)`, async () => {
    const res = await wire(`${kv.url(VAULT)}/keys/no-such-key?api-version=2025-07-01`, kv.tls.caPem, { token: "t" });
    expect(res.status).toBe(404);
    expect(res.json.error.code).toBe("KeyNotFound");
  });
});
