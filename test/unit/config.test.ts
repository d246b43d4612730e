import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadConfig } from "../../core/config.js";

describe("settings", () => {
  it("local.settings.sample.json is a configuration keyturn accepts", () => {
    const sample = JSON.parse(readFileSync(new URL("../../local.settings.sample.json", import.meta.url), "utf8")) as { Values: Record<string, string> };
    const config = loadConfig(sample.Values);
    expect(config.vaults.vaults.map((v) => v.name)).toEqual(["contoso-payments-kv", "contoso-shared-kv"]);
    expect(config.armEndpoint).toBe("https://management.azure.com");
    expect(config.rotationGuardMs).toBe(60 * 60_000);
    expect(config.credentialMode).toBe("default");
  });

  it("refuses settings that do not parse, saying which", () => {
    expect(() => loadConfig({ KEYTURN_CREDENTIAL: "password" })).toThrow(/KEYTURN_CREDENTIAL/);
    expect(() => loadConfig({ KEYTURN_ROTATION_GUARD_MINUTES: "soon" })).toThrow(/KEYTURN_ROTATION_GUARD_MINUTES/);
    expect(() => loadConfig({ KEYTURN_ARM_ENDPOINT: "http://management.azure.com" })).toThrow(/KEYTURN_ARM_ENDPOINT/);
    expect(() => loadConfig({ KEYTURN_VAULTS: "http://kv.vault.azure.net" })).toThrow(/KEYTURN_VAULTS/);
  });
});
