// Kill the rotating process (SIGKILL) at every step boundary, for every rotator kind,
// against the real providers' doubles and a real PostgreSQL (which live in this process
// and survive the kill). After each kill the guarantee of docs/guarantees.md holds — the
// latest Key Vault value works at the provider, or a pending journal holds one that does —
// and the next delivery of the same event completes the rotation: exactly one new
// version, which works at the provider.
//
// One child process per kind runs one rotation per crash point, each on its own secret
// and its own provider resource, and each stops at its own step; once all of them hang
// there, the process is killed. Journaling kinds (a single credential at a provider) also
// die in the middle of the commit step: the new version is written, but the process is
// killed while it marks the journal committed (the Key Vault double holds that request).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JournalState, journalName, readJournal } from "../../core/journal.js";
import { CredentialModel, journals, type Rotator } from "../../core/rotator.js";
import { rotators } from "../../rotators/index.js";
import { rotateManyInChild, type ChildJob } from "../support/crash.js";
import { ALL_KINDS, startFleet, type Fleet, type Kind, type ManagedSecret } from "../support/fleet.js";
import { HoldingFaults, type Hold } from "../support/holding-faults.js";
import { versionsOf } from "../support/keyvault.js";

const VAULT = "crash-all-kv";
/** Not a step boundary: killed between writing the new version and marking the journal committed. */
const MID_COMMIT = "mid-commit";

/** The step boundaries a kind's rotation passes, in order, as crash points. */
function crashPoints(kind: Kind): string[] {
  const r: Rotator<unknown, unknown> = rotators[kind];
  // Kinds that journal (a single credential at a provider); generated-secret does not.
  const single = journals(r);
  return [
    "plan",
    ...(single ? ["read-journal"] : []),
    "check-current",
    "create",
    ...(single ? ["journal"] : []), // writing the journal
    ...(r.apply ? ["apply"] : []),
    "verify",
    "commit",
    "notify",
    ...(single ? [MID_COMMIT] : []),
  ];
}

/** Where a crash point lies relative to the journal write and the commit. */
function phase(kind: Kind, point: string): "before-journal" | "journaled" | "committed" {
  if (point === "notify" || point === MID_COMMIT) return "committed";
  const points = crashPoints(kind);
  if (!journals(rotators[kind])) return "before-journal";
  return points.indexOf(point) > points.indexOf("journal") ? "journaled" : "before-journal";
}

let fleet: Fleet;
let faults: HoldingFaults;

beforeAll(async () => {
  faults = new HoldingFaults();
  fleet = await startFleet({ vaults: [VAULT], kvFaults: faults });
});
afterAll(async () => fleet?.stop());

describe("a rotation killed at any step boundary is completed by the next trigger", () => {
  it.each(ALL_KINDS.map((k) => [k]))("%s", async (kind) => {
    const points = crashPoints(kind);
    const secrets = new Map<string, ManagedSecret>();
    for (const [i, point] of points.entries()) {
      const name = `${kind.replace(/-/g, "")}-${point.replace("#", "")}`;
      secrets.set(point, await fleet.addSecret(kind, VAULT, name, { variant: i }));
    }
    const holds: Hold[] = [];
    const jobs: ChildJob[] = points.map((point) => {
      const s = secrets.get(point)!;
      if (point === MID_COMMIT) {
        const journalPath = `/secrets/${journalName(s.name)}/`;
        holds.push(faults.hold((d) => d.operation === "UpdateSecret" && d.path.startsWith(journalPath)));
        return { secret: s.name, expectedVersion: s.version };
      }
      return { secret: s.name, expectedVersion: s.version, crashAt: point };
    });

    const child = await rotateManyInChild(fleet.env(VAULT), jobs, { waitFor: holds.map((h) => h.reached) });
    for (const h of holds) h.release();

    const client = fleet.client(VAULT);
    const te = fleet.engine();
    // The points are independent (own secret, own provider resource): check them at once.
    const checkPoint = async (point: string) => {
      const s = secrets.get(point)!;
      const outcome = child.outcomes.get(s.name)!;
      const where = `${kind} killed at ${point}`;
      // The process died there: no result, no error.
      expect(outcome.result, `${where}: ${child.output.slice(-2000)}`).toBeUndefined();
      expect(outcome.error, where).toBeUndefined();
      if (point === MID_COMMIT) expect(outcome.steps.at(-1), where).toBe("commit");
      else expect(outcome.killedAt, where).toBe(point.split("#")[0]);

      // What survived the kill.
      const afterKill = await fleet.invariantOf(s);
      expect(afterKill.holds, `${where}: ${JSON.stringify({ ...afterKill, pendingValue: undefined })}`).toBe(true);
      const expectedVersions = phase(kind, point) === "committed" ? 2 : 1;
      expect(await versionsOf(client, s.name), where).toHaveLength(expectedVersions);
      if (phase(kind, point) === "journaled" || point === MID_COMMIT) expect(afterKill.journalState, where).toBe(JournalState.Pending);
      else if (phase(kind, point) === "before-journal") expect(afterKill.journalState, where).toBeUndefined();

      // Event Grid delivers the same event again, to another instance.
      const again = () =>
        te.engine.rotateSecret({
          vault: { name: VAULT, url: fleet.kv.url(VAULT) },
          secret: s.name,
          expectedVersion: s.version,
          mode: "normal",
          trigger: { kind: "event", id: `redelivery-${s.name}` },
        });
      const next = await again();
      if (phase(kind, point) === "committed") {
        expect(next, where).toMatchObject({ status: "skipped", reason: "stale-event" });
      } else {
        expect(next, where).toMatchObject({ status: "rotated", previousVersion: s.version, rolledForward: phase(kind, point) === "journaled" });
        if (afterKill.pendingValue !== undefined) expect((await client.getSecret(s.name)).value, `${where}: rolled forward with the journaled value`).toBe(afterKill.pendingValue);
      }
      expect(await versionsOf(client, s.name), where).toHaveLength(2);
      const done = await fleet.invariantOf(s);
      expect(done.latestWorks, `${where}: the latest value works at the provider`).toBe(true);
      if (journals(rotators[kind]) && point !== MID_COMMIT) expect(done.journalState, where).toBe(JournalState.Committed);
      // Dual models: the credential consumers held until now still works.
      if (rotators[kind].model === CredentialModel.Dual || s.tags.Logins) expect(await fleet.works(s, s.initialValues.at(-1)!), `${where}: previous credential`).toBe(true);
      // A third delivery rotates nothing.
      expect(await again(), where).toMatchObject({ status: "skipped", reason: "stale-event" });
      expect(await versionsOf(client, s.name), where).toHaveLength(2);
    };
    await Promise.all(points.map(checkPoint));

    // Killed mid-commit: the event is stale now, but the journal still says pending. The
    // sweep lists pending journals and hands each to the engine; the next daily sweep
    // comes hours later, past the loop guard. The engine sees that the journal's value is
    // the latest version's, marks it committed — and must stop there: the rotation the
    // journal recorded is complete, and the sweep named no due version.
    for (const point of points.filter((p) => p === MID_COMMIT)) {
      const s = secrets.get(point)!;
      const nextDay = fleet.engine({ env: { KEYTURN_ROTATION_GUARD_MINUTES: "60" }, now: () => new Date(Date.now() + 25 * 3_600_000) });
      const swept = await nextDay.engine.rotateSecret({ vault: { name: VAULT, url: fleet.kv.url(VAULT) }, secret: s.name, mode: "normal", trigger: { kind: "sweep", id: `sweep-${s.name}` } });
      expect(swept, `${kind} killed mid-commit, then the next day's sweep`).toMatchObject({ status: "skipped", reason: "journal-finished" });
      expect((await readJournal(client, s.name))?.state).toBe(JournalState.Committed);
      expect(await versionsOf(client, s.name)).toHaveLength(2);
      expect((await fleet.invariantOf(s)).latestWorks).toBe(true);
    }
    // Nobody was told of a failure: nothing failed, processes died.
    expect(te.notifier.sent.filter((n) => n.type === "keyturn.RotationFailed")).toEqual([]);
  });
});
