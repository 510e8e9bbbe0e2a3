import assert from "node:assert/strict";
import type { Check } from "../../lib/conform/check.ts";
import { fail, pass, skip } from "../../lib/conform/check.ts";
import { CONFORM_SCHEMA, runChecks, selectChecks } from "../../lib/conform/run.ts";
import {
  renderCheckList,
  renderConformJson,
  renderConformJUnit,
  renderConformText,
} from "../../lib/conform/render.ts";
import { conformSim } from "../../testing/conform_device.ts";

const mk = (id: string, run: Check["run"], applies: Check["applies"] = () => true): Check => ({
  id,
  section: "2.1",
  requirement: `rule ${id}`,
  applies,
  run,
});

const CHECKS = [
  mk("t.pass", () => pass("fine")),
  mk("t.fail", () => fail("7", "0")),
  mk("t.throw", () => {
    throw new Error("boom <&>");
  }),
  mk("t.na", () => pass(), () => "feature X not offered"),
  mk("t.skip", () => skip("cannot tell")),
  mk("t.dirty", (ctx) => {
    ctx.transport.setStatus(1);
    return pass();
  }),
  mk("t.after", (ctx) => {
    const s = ctx.transport.getStatus();
    return s === 0 ? pass() : fail(String(s), "0 (reset between checks)");
  }),
];

Deno.test("conform runner: verdicts, a throw is a fail with its message, reset between checks", () => {
  const r = runChecks(conformSim(), CHECKS);
  assert.equal(r.schema, CONFORM_SCHEMA);
  assert.deepEqual(r.results.map((x) => x.verdict), [
    "pass",
    "fail",
    "fail",
    "na",
    "skip",
    "pass",
    "pass",
  ]);
  assert.equal(r.results[2]!.seen, "error: boom <&>");
  assert.equal(r.results[3]!.detail, "feature X not offered");
  assert.deepEqual(r.summary, { pass: 3, fail: 2, na: 1, skip: 1 });
  assert.equal(r.device.typeName, "net");
});

Deno.test("conform renderers: text line per requirement, JSON, JUnit with failure/skipped", () => {
  const r = runChecks(conformSim(), CHECKS);
  const text = renderConformText(r);
  assert.ok(!text.includes("\x1b["), "no colour unless asked");
  assert.ok(renderConformText(r, { color: true }).includes("\x1b[31mFAIL\x1b[0m"), "FAIL in red");
  assert.match(text, /^FAIL {2}t\.fail {3}§2\.1 +rule t\.fail$/m);
  assert.match(text, /seen: 7; expected: 0/);
  assert.match(text, /3 pass, 2 fail, 1 not applicable, 1 skipped/);
  assert.deepEqual(JSON.parse(renderConformJson(r)).summary, r.summary);
  const x = renderConformJUnit(r);
  assert.equal(x.match(/<testcase /g)?.length, CHECKS.length);
  assert.equal(x.match(/<failure /g)?.length, 2);
  assert.equal(x.match(/<skipped /g)?.length, 2);
  assert.match(x, /boom &#60;&#38;&#62;|boom &lt;&amp;&gt;/);
  assert.ok(!x.includes("boom <&>"));
});

Deno.test("conform --only and --list helpers", () => {
  assert.deepEqual(selectChecks(CHECKS, /^t\.(pass|na)$/).map((c) => c.id), ["t.pass", "t.na"]);
  const list = renderCheckList(CHECKS);
  assert.match(list, /^t\.throw {2}§2\.1 +rule t\.throw$/m);
  assert.match(list, /7 checks\n$/);
});
