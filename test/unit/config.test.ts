import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseSettings, settingsSchema } from "../../core/config.js";

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

  it("throws a typed ConfigError that names the setting, and never echoes a credential-bearing value", () => {
    const refused = (env: Record<string, string>) => {
      try {
        loadConfig(env);
      } catch (error) {
        return error;
      }
      throw new Error("accepted");
    };
    const credential = refused({ KEYTURN_CREDENTIAL: "password" });
    expect(credential).toBeInstanceOf(ConfigError);
    expect(credential).toMatchObject({ name: "ConfigError", setting: "KEYTURN_CREDENTIAL", kind: "internal", transient: false });
    const webhook = refused({ KEYTURN_NOTIFY_WEBHOOK_URL: "http://hooks.example.com/services/T0/B0/s3cr3t-token" }) as ConfigError;
    expect(webhook.setting).toBe("KEYTURN_NOTIFY_WEBHOOK_URL");
    expect(webhook.message).not.toContain("s3cr3t-token");
    expect(refused({ KEYTURN_EMAIL_SENDER: "keyturn@contoso.com" })).toMatchObject({ setting: "KEYTURN_EMAIL_ENDPOINT", message: expect.stringMatching(/set together/) });
    expect(refused({ KEYTURN_VAULT_RESOURCE_IDS: "contoso-kv" })).toMatchObject({ setting: "KEYTURN_VAULT_RESOURCE_IDS" });
    expect(refused({ KEYTURN_SWEEP_SCHEDULE: "0 0 3 1 * 7" })).toMatchObject({ setting: "KEYTURN_SWEEP_SCHEDULE" });
  });

  it("reads blank as unset, trims, and gives each setting its default", () => {
    const config = loadConfig({ KEYTURN_ROTATION_GUARD_MINUTES: "  ", KEYTURN_ARM_ENDPOINT: " https://management.usgovcloudapi.net/ ", KEYTURN_REQUIRE_APP_ROLES: "TRUE", WEBSITE_AUTH_ENABLED: "True" });
    expect(config.rotationGuardMs).toBe(60 * 60_000);
    expect(config.armEndpoint).toBe("https://management.usgovcloudapi.net");
    expect(config.requireAppRoles).toBe(true);
    expect(config.lockContainer).toBe("keyturn-locks");
    expect(parseSettings({}).KEYTURN_KEYVAULT_LIMIT_SCALE).toBe(1);
  });

  it("lists every setting of local.settings.sample.json that keyturn reads in the one schema", () => {
    const sample = JSON.parse(readFileSync(new URL("../../local.settings.sample.json", import.meta.url), "utf8")) as { Values: Record<string, string> };
    // KEYTURN_LOG_LEVEL is read by the logger before settings load.
    const read = Object.keys(sample.Values).filter((k) => k.startsWith("KEYTURN_") && k !== "KEYTURN_LOG_LEVEL");
    expect(Object.keys(settingsSchema.shape).filter((k) => k.startsWith("KEYTURN_")).sort()).toEqual(read.sort());
  });
});
