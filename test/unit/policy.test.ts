import { describe, expect, it } from "vitest";
import { ConfigurationError } from "../../core/errors.js";
import { planFromTags } from "../../core/engine.js";
import { ALL_CLASSES, CharacterClass, generateSecret } from "../../core/generate.js";
import { createLogger, type LogLevel } from "../../core/log.js";
import { clearRegisteredSecrets, redact, registerSecret } from "../../core/redact.js";
import { isManaged, isPaused, resourceTypeOf, tagValue, withTag } from "../../core/tags.js";
import { VaultAllowList } from "../../core/vaults.js";
import { registry } from "../../rotators/index.js";

describe("rotation policy from tags", () => {
  it("resolves the rotator and validity", () => {
    const plan = planFromTags({ Rotator: "generated-secret", ValidityPeriodDays: "60", Owner: "team@contoso.com" }, registry);
    expect(plan.rotator.kind).toBe("generated-secret");
    expect(plan.validityDays).toBe(60);
    expect(plan.owner).toBe("team@contoso.com");
    expect(plan.params).toEqual({ length: 32, classes: ["lower", "upper", "digit", "symbol"] });
  });

  it("reads tag names case-insensitively and trims values", () => {
    const plan = planFromTags({ rotator: " Generated-Secret ", validityperioddays: " 45 ", secretlength: "20", SECRETCHARACTERS: "digit, lower" }, registry);
    expect(plan.validityDays).toBe(45);
    expect(plan.params).toEqual({ length: 20, classes: ["digit", "lower"] });
  });

  const bad: Array<[string, Record<string, string>, string, RegExp]> = [
    ["validity of 30 days loops", { Rotator: "generated-secret", ValidityPeriodDays: "30" }, "ValidityPeriodDays", /must be more than 30/],
    ["validity of 7 days", { Rotator: "generated-secret", ValidityPeriodDays: "7" }, "ValidityPeriodDays", /rotate again at once/],
    ["validity not a number", { Rotator: "generated-secret", ValidityPeriodDays: "sixty" }, "ValidityPeriodDays", /whole number/],
    ["validity missing", { Rotator: "generated-secret" }, "ValidityPeriodDays", /is required/],
    ["validity too long", { Rotator: "generated-secret", ValidityPeriodDays: "99999" }, "ValidityPeriodDays", /at most 3650/],
    ["unknown rotator", { Rotator: "magic", ValidityPeriodDays: "60" }, "Rotator", /unknown rotator 'magic'/],
    ["no rotator, provider names nothing known", { ValidityPeriodDays: "60", ProviderAddress: "/subscriptions/s/resourceGroups/r/providers/Microsoft.Foo/bars/b" }, "ProviderAddress", /microsoft.foo\/bars/],
    ["no rotator at all", { ValidityPeriodDays: "60" }, "Rotator", /is missing/],
    ["length too short", { Rotator: "generated-secret", ValidityPeriodDays: "60", SecretLength: "4" }, "SecretLength", /at least 16/],
    ["length with a unit", { Rotator: "generated-secret", ValidityPeriodDays: "60", SecretLength: "32 chars" }, "SecretLength", /whole number/],
    ["unknown class", { Rotator: "generated-secret", ValidityPeriodDays: "60", SecretCharacters: "lower,emoji" }, "SecretCharacters", /comma-separated list/],
  ];
  it.each(bad)("%s is a configuration error naming the tag", (_n, tags, tag, message) => {
    let error: unknown;
    try {
      planFromTags(tags, registry);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigurationError);
    expect((error as ConfigurationError).tag).toBe(tag);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).toContain(tag);
  });

  it("knows managed, paused and resource types", () => {
    expect(isManaged({ Owner: "x" })).toBe(false);
    expect(isManaged({ ValidityPeriodDays: "60" })).toBe(true);
    expect(isPaused({ RotationPaused: "true" })).toBe(true);
    expect(isPaused({ RotationPaused: "no" })).toBe(false);
    expect(resourceTypeOf("/subscriptions/s/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct")).toBe("microsoft.storage/storageaccounts");
    expect(resourceTypeOf("postgres://db:5432/app")).toBeUndefined();
    expect(withTag({ credentialid: "key1", a: "b" }, "CredentialId", "key2")).toEqual({ credentialid: "key2", a: "b" });
    expect(tagValue({ " Owner ": "  " }, "owner")).toBeUndefined();
  });
});

describe("generateSecret", () => {
  it("honours length and classes, with every class present", () => {
    for (let i = 0; i < 200; i++) {
      const v = generateSecret(16, ALL_CLASSES);
      expect(v).toHaveLength(16);
      for (const c of ALL_CLASSES) expect([...v].some((ch) => CharacterClass[c].includes(ch))).toBe(true);
    }
    expect(generateSecret(40, ["digit"])).toMatch(/^\d{40}$/);
  });

  it("does not repeat itself", () => {
    const values = new Set(Array.from({ length: 1000 }, () => generateSecret(32)));
    expect(values.size).toBe(1000);
  });

  it("refuses impossible requests", () => {
    expect(() => generateSecret(2, ALL_CLASSES)).toThrow(/at least 4/);
    expect(() => generateSecret(10, [])).toThrow(/at least one character class/);
  });
});

describe("redact", () => {
  it("scrubs registered values, their JSON and URL encodings, and credential patterns", () => {
    clearRegisteredSecrets();
    registerSecret('p@ss"w0rd/long');
    const text = `a p@ss"w0rd/long b ${JSON.stringify({ v: 'p@ss"w0rd/long' })} ${encodeURIComponent('p@ss"w0rd/long')}`;
    const out = redact(text);
    expect(out).not.toContain("w0rd");
    expect(redact("AccountName=a;AccountKey=abc123==;EndpointSuffix=x")).toBe("AccountName=a;AccountKey=[REDACTED];EndpointSuffix=x");
    expect(redact("postgres://app:hunter22@db:5432/x")).toBe("postgres://app:[REDACTED]@db:5432/x");
    expect(redact('{"password":"hunter22","user":"app"}')).toBe('{"password":"[REDACTED]","user":"app"}');
    registerSecret("abc"); // too short to register: would mask ordinary words
    expect(redact("abc")).toBe("abc");
  });

  it("masks every stretch a registered value covers, overlapping ones as one, whatever the values' order", () => {
    // prepare: values that overlap, nest and share prefixes; texts made of them and noise
    clearRegisteredSecrets();
    let seed = 7;
    const rnd = (n: number) => {
      seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648;
      return seed % n;
    };
    const alphabet = "abcXYZ09";
    const word = (n: number) => Array.from({ length: n }, () => alphabet[rnd(alphabet.length)]).join("");
    const registered: string[] = [];
    for (let i = 0; i < 60; i++) {
      const base = registered.length > 0 && rnd(3) === 0 ? registered[rnd(registered.length)]! : word(6 + rnd(10));
      const v = rnd(2) === 0 ? base + word(rnd(4)) : base.slice(rnd(3)) + word(3);
      if (v.length < 6) continue;
      registered.push(v);
      registerSecret(v);
    }
    // The plain reference: mark every character any value covers, one mask per run.
    const expected = (text: string) => {
      const covered = Array.from({ length: text.length }, () => false);
      for (const v of registered) for (let at = text.indexOf(v); at >= 0; at = text.indexOf(v, at + 1)) covered.fill(true, at, at + v.length);
      let out = "";
      for (let i = 0; i < text.length; i++) {
        if (!covered[i]) out += text[i];
        else if (i === 0 || !covered[i - 1]) out += "[REDACTED]";
      }
      return out;
    };
    for (let t = 0; t < 300; t++) {
      const text = Array.from({ length: 1 + rnd(6) }, () => (rnd(2) === 0 ? registered[rnd(registered.length)]! : word(rnd(8)))).join(rnd(2) === 0 ? "" : " ");
      // act
      const out = redact(text);
      // assess
      expect(out).toBe(expected(text));
      for (const v of registered) expect(out.includes(v), `${v} in ${out}`).toBe(false);
    }
  });
  it("masks a value only where it is, when another value's first characters index alike", () => {
    // "Aa" and "BB" give one key under the index's arithmetic (65·31+97 = 66·31+66): the
    // index treats such prefixes as candidates, and only the value itself is masked.
    clearRegisteredSecrets();
    registerSecret("AaAaAa-first-value");
    registerSecret("BBBBBB-second-value");
    expect(redact("x AaAaAa-first-value y")).toBe("x [REDACTED] y");
    expect(redact("x BBBBBB-second-value y")).toBe("x [REDACTED] y");
    expect(redact("AaBBAa-neither and BBAaBB-neither")).toBe("AaBBAa-neither and BBAaBB-neither");
    expect(redact("BBBBBB-first-value")).toBe("BBBBBB-first-value");
  });
});

describe("vault allow-list", () => {
  it("parses URLs and name=url entries", () => {
    const list = VaultAllowList.parse(" https://a-kv.vault.azure.net/ ;local-kv=https://127.0.0.1:8443\nhttps://B-KV.vault.azure.net");
    expect(list.vaults.map((v) => v.name)).toEqual(["a-kv", "local-kv", "b-kv"]);
    expect(list.find("b-kv")?.url).toBe("https://b-kv.vault.azure.net");
    expect(() => list.byNameOrThrow("nope")).toThrow(/not on the allow-list/);
  });
  it.each([
    ["http://a-kv.vault.azure.net", /must use https/],
    ["https://a-kv.vault.azure.net/secrets", /bare vault URL/],
    ["not a url", /not a vault URL/],
    ["https://a-kv.vault.azure.net,https://A-KV.vault.azure.net", /twice/],
  ])("refuses %s", (setting, message) => {
    expect(() => VaultAllowList.parse(setting)).toThrow(message);
  });
});

describe("redact leaves ordinary structured text alone", () => {
  it("does not treat URLs and e-mail addresses as credentials", () => {
    const record = JSON.stringify({ secret: "db-password", key: "storage-cmk", certificate: "web-tls", vaultUrl: "https://127.0.0.1:37739", owner: "team@example.com", version: "abc" });
    expect(redact(record)).toBe(record);
  });
});

describe("log lines", () => {
  it("are one JSON object each: time, level, message, the logger's fields, then the call's; a call's field overrides the logger's; undefined is left out", () => {
    // prepare: a logger with fields, a child adding and overriding some
    const lines: Array<[LogLevel, string]> = [];
    const root = createLogger({ invocationId: "inv-1", functionName: "keyVaultEvents", trigger: undefined }, (level, line) => lines.push([level, line]));
    const child = root.child({ vault: "kv", secret: "s1", functionName: "rotateSecret" });

    // act
    root.info("plain");
    child.warn("with fields", { step: "commit", version: "v2", attempts: 3, dry: false, extra: null, skipped: undefined });
    child.error("overrides", { secret: "s2", step: "load" });
    child.debug("below the level");

    // assert: the objects, keys in order, as JSON.stringify of the merged record would write them
    expect(lines.map(([level]) => level)).toEqual(["info", "warn", "error"]);
    const parsed = lines.map(([, line]) => JSON.parse(line) as Record<string, unknown>);
    for (const p of parsed) expect(new Date(p.time as string).toISOString()).toBe(p.time);
    const withoutTime = parsed.map(({ time: _time, ...rest }) => rest);
    expect(withoutTime).toEqual([
      { level: "info", message: "plain", invocationId: "inv-1", functionName: "keyVaultEvents" },
      { level: "warn", message: "with fields", invocationId: "inv-1", functionName: "rotateSecret", vault: "kv", secret: "s1", step: "commit", version: "v2", attempts: 3, dry: false, extra: null },
      { level: "error", message: "overrides", invocationId: "inv-1", functionName: "rotateSecret", vault: "kv", secret: "s2", step: "load" },
    ]);
    expect(Object.keys(parsed[2]!)).toEqual(["time", "level", "message", "invocationId", "functionName", "vault", "secret", "step"]);
    expect(lines.every(([, line]) => !line.includes("\n") && line === JSON.stringify(JSON.parse(line)))).toBe(true);
  });

  it("are redacted as a whole, a value registered after the logger was made included", () => {
    // prepare: a logger whose own fields carry a value that becomes a secret later
    clearRegisteredSecrets();
    const lines: string[] = [];
    const log = createLogger({ note: "later-secret-value" }, (_level, line) => lines.push(line));
    registerSecret("later-secret-value");
    registerSecret("call-secret-value");

    // act
    log.info('message "quoted" call-secret-value', { field: "call-secret-value" });

    // assert: neither value anywhere; the message's quotes escaped as JSON escapes them
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toContain("secret-value");
    expect(JSON.parse(lines[0]!)).toMatchObject({ note: "[REDACTED]", field: "[REDACTED]", message: 'message "quoted" [REDACTED]' });
    clearRegisteredSecrets();
  });
});
