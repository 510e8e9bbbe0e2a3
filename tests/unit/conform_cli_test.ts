import assert from "node:assert/strict";
import type { CommandIO } from "../../commands/command.ts";
import { runConform } from "../../commands/conform.ts";
import { run } from "../../main.ts";
import { CONFORM_CHECKS } from "../../lib/conform/registry.ts";
import { conformSim, type ConformSimOptions } from "../../testing/conform_device.ts";

function io(abort = false) {
  const out: string[] = [];
  const err: string[] = [];
  const c = new AbortController();
  if (abort) c.abort();
  const value: CommandIO = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    color: false,
    signal: c.signal,
  };
  return { value, out: () => out.join(""), err: () => err.join("") };
}

/** An opener over the simulated device that records whether it was given back. */
function simOpener(o: ConformSimOptions = {}) {
  const state = { opened: 0, closed: 0, address: "" };
  return {
    state,
    open: (address: string) => {
      state.opened++;
      state.address = address;
      return { ...conformSim(o), [Symbol.dispose]: () => void state.closed++ };
    },
  };
}

Deno.test("conform --list prints every check and the count; --only filters", async () => {
  const a = io();
  assert.equal(await runConform(["--list"], a.value), 0);
  assert.match(a.out(), new RegExp(`\\n${CONFORM_CHECKS.length} checks\\n$`));
  const b = io();
  assert.equal(await runConform(["--list", "--only", "^blk\\."], b.value), 0);
  const n = CONFORM_CHECKS.filter((c) => c.id.startsWith("blk.")).length;
  assert.match(b.out(), new RegExp(`\\n${n} checks\\n$`));
});

Deno.test("conform usage errors exit 2", async () => {
  for (
    const args of [
      ["conform"],
      ["conform", "--only", "("],
      ["conform", "0000:00:09.0", "--only", "^nothing$"],
      ["conform", "--list", "00:09.0"],
      ["conform", "00:09.0", "--access", "ssh"],
    ]
  ) {
    const x = io();
    assert.equal(await run(args, x.value), 2, args.join(" "));
  }
});

Deno.test("conform on a correct simulated NIC: exit 0, device given back, JSON and JUnit", async () => {
  const s = simOpener();
  const a = io();
  const junit = await Deno.makeTempFile({ suffix: ".xml" });
  try {
    const code = await runConform(["00:09.0", "--json", "--junit", junit], a.value, s);
    assert.equal(code, 0, a.out());
    assert.deepEqual(s.state, { opened: 1, closed: 1, address: "0000:00:09.0" });
    const report = JSON.parse(a.out());
    assert.equal(report.schema, "virtio-conform/1");
    assert.equal(report.results.length, CONFORM_CHECKS.length);
    assert.equal(report.summary.fail, 0);
    const xml = await Deno.readTextFile(junit);
    assert.equal(xml.match(/<testcase /g)?.length, CONFORM_CHECKS.length);
  } finally {
    await Deno.remove(junit);
  }
});

Deno.test("conform exits 1 when a check fails, and still gives the device back", async () => {
  const s = simOpener({ faults: ["msix-unmap-ignored"] });
  const a = io();
  assert.equal(await runConform(["00:09.0", "--only", "^pci\\.msix"], a.value, s), 1);
  assert.match(a.out(), /^FAIL {2}pci\.msix\.unmap /m);
  assert.match(a.out(), /seen: 0x0; expected: 0xffff/);
  assert.equal(s.state.closed, 1);
});

Deno.test("conform interrupted: remaining checks skipped, exit 130, device given back", async () => {
  const s = simOpener();
  const a = io(true);
  assert.equal(await runConform(["00:09.0", "--only", "^status\\."], a.value, s), 130);
  assert.match(a.out(), /SKIP {2}status\.reset-reads-0/);
  assert.match(a.err(), /interrupted/);
  assert.equal(s.state.closed, 1);
});
