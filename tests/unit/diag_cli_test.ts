import assert from "node:assert/strict";
import { runDiag } from "../../commands/diag.ts";
import type { CommandIO } from "../../commands/command.ts";
import { run } from "../../main.ts";
import { makeReport } from "../../lib/diag/report.ts";
import { renderDiagText, renderJUnit, xmlEscape } from "../../lib/diag/render.ts";
import { diagnose } from "../../lib/diag/run.ts";
import { openBarRegion } from "../../lib/pci/bar.ts";
import { FIXTURE_SYSFS, fixtureOpener } from "./probe_helpers_fakes.ts";
import { hostTest, NEEDS } from "./host_needs.ts";

function io(color = false) {
  const out: string[] = [];
  const err: string[] = [];
  const value: CommandIO = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    color,
    signal: new AbortController().signal,
  };
  return { value, out: () => out.join(""), err: () => err.join("") };
}

const deps = { openBar: fixtureOpener().open, hostname: "fixture" };

async function pythonParses(xml: string): Promise<[number, number]> {
  const file = await Deno.makeTempFile({ suffix: ".xml" });
  await Deno.writeTextFile(file, xml);
  const r = await new Deno.Command("python3", {
    args: [
      "-c",
      "import xml.dom.minidom,sys; d=xml.dom.minidom.parse(sys.argv[1]); " +
      "print(len(d.getElementsByTagName('testsuite')), len(d.getElementsByTagName('testcase')))",
      file,
    ],
  }).output();
  await Deno.remove(file);
  assert.ok(r.success, new TextDecoder().decode(r.stderr));
  const [s, c] = new TextDecoder().decode(r.stdout).trim().split(" ").map(Number);
  return [s!, c!];
}

Deno.test("diag --json over the recorded host: schema, every device, exit 0", async () => {
  const o = io();
  const code = await runDiag(["--json", "--sysfs", FIXTURE_SYSFS], o.value, deps);
  assert.equal(code, 0, o.err());
  const report = JSON.parse(o.out());
  assert.equal(report.schema, "virtio-diag/1");
  assert.equal(report.ok, true);
  assert.equal(report.active, false);
  assert.deepEqual(report.devices.map((d: { address: string }) => d.address), [
    "0000:00:01.0",
    "0000:00:02.0",
    "0000:00:03.0",
    "0000:00:04.0",
    "0000:00:05.0",
  ]);
  assert.equal(report.summary.fail, 0);
  assert.equal(
    report.summary.pass + report.summary.warn + report.summary.skip,
    report.devices.reduce((n: number, d: { checks: unknown[] }) => n + d.checks.length, 0),
  );
});

Deno.test("diag --jsonl: one parseable line per device, each with the schema", async () => {
  const o = io();
  assert.equal(
    await runDiag(["--jsonl", "--sysfs", FIXTURE_SYSFS, "00:03.0", "00:02.0"], o.value, deps),
    0,
  );
  const lines = o.out().trimEnd().split("\n");
  assert.equal(lines.length, 2);
  const [a, b] = lines.map((l) => JSON.parse(l));
  assert.equal(a.schema, "virtio-diag/1");
  assert.equal(a.address, "0000:00:03.0");
  assert.equal(b.type, "blk");
});

Deno.test("diag --junit writes XML python parses: one suite per device, one case per check", async () => {
  const file = await Deno.makeTempFile({ suffix: ".xml" });
  const o = io();
  assert.equal(await runDiag(["--junit", file, "--sysfs", FIXTURE_SYSFS], o.value, deps), 0);
  const xml = await Deno.readTextFile(file);
  await Deno.remove(file);
  const [suites, cases] = await pythonParses(xml);
  assert.equal(suites, 5);
  assert.equal(cases, (o.out().match(/^ {2}(pass|warn|fail|skip) /gm) ?? []).length);
  assert.match(xml, /hostname="fixture"/);
});

Deno.test("JUnit: fail → <failure>, skip → <skipped/>, hostile reasons escaped", async () => {
  const report = makeReport([{
    address: "0000:00:04.0",
    type: "net",
    kind: "modern",
    verdict: "fail",
    checks: [
      { name: "net.link", status: "fail", reason: `link <down> & "out" \x01` },
      { name: "net.selftest", status: "skip", reason: "not taken over: it's in use" },
      { name: "virtio.status", status: "warn", reason: "odd" },
      { name: "pci.config", status: "pass", reason: "fine", ms: 1500 },
    ],
  }], true);
  const xml = renderJUnit(report);
  assert.deepEqual(await pythonParses(xml), [1, 4]);
  assert.match(xml, /<failure message="link &lt;down&gt; &amp; &quot;out&quot; "/);
  assert.match(xml, /<skipped message="not taken over: it&apos;s in use"\/>/);
  assert.match(xml, /<system-out>warn: odd<\/system-out>/);
  assert.match(xml, /time="1\.500"/);
  assert.match(xml, /failures="1" errors="0" skipped="1"/);
  assert.equal(xmlEscape("a\x00b"), "ab");
});

Deno.test("text: colour only when asked; verdict and summary", () => {
  const report = makeReport([{
    address: "0000:00:04.0",
    type: "net",
    kind: "modern",
    verdict: "fail",
    checks: [{ name: "net.link", status: "fail", reason: "down" }],
  }], false);
  const plain = renderDiagText(report, { color: false });
  assert.ok(!plain.includes("\x1b["));
  assert.match(plain, /0000:00:04\.0 {2}net \(modern\) {2}FAIL/);
  assert.match(plain, /1 device: 0 pass, 0 warn, 1 fail, 0 skip — FAILED/);
  assert.ok(renderDiagText(report, { color: true }).includes("\x1b[31m"));
});

Deno.test("exit codes: usage errors are 2 through main.ts; a failed check is 1", async () => {
  for (
    const args of [
      ["diag", "--json", "--jsonl"],
      ["diag", "--force"],
      ["diag", "--active", "--access", "dma"],
      ["diag", "--active", "--frames", "0"],
      ["diag", "not-an-address"],
      ["diag", "--active", "--peer", "00:04.0", "00:04.0"],
    ]
  ) {
    const o = io();
    assert.equal(await run(args, o.value), 2, args.join(" "));
    assert.match(o.err(), /^virtio: /);
  }
  const o = io();
  assert.equal(await run(["diag", "--help"], o.value), 0);
  assert.match(o.out(), /--junit FILE/);
  // A device that does not exist: the probe check fails → exit 1.
  const miss = io();
  assert.equal(await runDiag(["--sysfs", FIXTURE_SYSFS, "00:1f.0"], miss.value, deps), 1);
  assert.match(miss.out(), /fail {2}probe/);
});

hostTest("host: passive diag of this machine's own devices passes or warns, BARs read-only", [
  NEEDS.virtio,
], async () => {
  const opened: boolean[] = [];
  const report = await diagnose({
    openBar: (a, b, o) => {
      opened.push(o.writable);
      return openBarRegion(a, b, { writable: false });
    },
  });
  assert.ok(report.devices.length > 0);
  assert.ok(opened.every((w) => w === false), "a BAR was asked for writable");
  for (const d of report.devices) {
    assert.notEqual(d.verdict, "fail", JSON.stringify(d.checks));
    assert.ok(d.checks.length >= 5);
  }
  assert.equal(report.active, false);
});
