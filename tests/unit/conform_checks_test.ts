import assert from "node:assert/strict";
import { CONFORM_CHECKS } from "../../lib/conform/registry.ts";
import { runChecks } from "../../lib/conform/run.ts";
import { conformSim, type ConformSimOptions, simConfig } from "../../testing/conform_device.ts";
import { MUTATIONS } from "./conform_mutations.ts";

function verdict(id: string, o: ConformSimOptions) {
  const check = CONFORM_CHECKS.find((c) => c.id === id)!;
  const r = runChecks(conformSim(o), [check]).results[0]!;
  return r;
}

Deno.test("conform: every registered check has a mutation test, and every mutation a check", () => {
  const ids = CONFORM_CHECKS.map((c) => c.id);
  assert.equal(new Set(ids).size, ids.length, "check ids are unique");
  assert.deepEqual(ids.filter((id) => !(id in MUTATIONS)), [], "checks without a mutation");
  assert.deepEqual(Object.keys(MUTATIONS).filter((id) => !ids.includes(id)), [], "stale mutations");
});

for (const check of CONFORM_CHECKS) {
  const m = MUTATIONS[check.id];
  if (!m) continue;
  Deno.test(`conform ${check.id}: passes on the correct device, fails with its rule broken`, () => {
    const base = m.base ?? {};
    const good = verdict(check.id, base);
    assert.equal(good.verdict, "pass", `correct device: ${JSON.stringify(good)}`);
    const mutant = {
      ...base,
      ...m.mutant,
      faults: [...(base.faults ?? []), ...(m.mutant.faults ?? [])],
    };
    const bad = verdict(check.id, mutant);
    assert.equal(bad.verdict, "fail", `mutant: ${JSON.stringify(bad)}`);
  });
}

Deno.test("conform: a correct device of each simulated type fails no check", () => {
  for (const deviceType of [1, 2, 3, 4]) {
    const r = runChecks(conformSim({ deviceType }), CONFORM_CHECKS);
    const failed = r.results.filter((x) => x.verdict === "fail");
    assert.deepEqual(failed, [], `type ${deviceType}`);
    assert.ok(r.summary.pass > 50, `type ${deviceType}: ${r.summary.pass} passes`);
  }
});

Deno.test("conform: a check applies only to its device type", () => {
  const r = runChecks(conformSim({ deviceType: 4 }), CONFORM_CHECKS);
  const blk = r.results.find((x) => x.id === "blk.read")!;
  assert.equal(blk.verdict, "na");
  assert.equal(blk.detail, "not a block device");
  void simConfig;
});
