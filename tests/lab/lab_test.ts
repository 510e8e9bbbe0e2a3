/**
 * The lab's plumbing, on a real QEMU VM: the guest sees the PCI devices QEMU was given, and
 * its output and exit code come back; a hung guest is killed by the wall-clock limit.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import { pciAddress, resolveDevices } from "../../lib/lab/devices.ts";
import { TimeoutError } from "../../lib/errors.ts";

Deno.test("lab: the guest lists exactly the virtio devices QEMU was given", async () => {
  const r = await runInLab({
    devices: "probe",
    command: ["sh", "-c", "lspci -n -D -d 1af4:; echo to-stderr >&2; exit 7"],
  });
  assert.equal(r.code, 7);
  assert.match(r.console, /^to-stderr$/m);
  const seen = new Map(
    r.stdout.trim().split("\n").map((l) => {
      const [addr, , ids] = l.split(" ");
      return [addr!, ids!] as const;
    }),
  );
  const expected = new Map(
    resolveDevices("probe").map((d) => [
      pciAddress(d.slot),
      `1af4:${d.pciDeviceId.toString(16).padStart(4, "0")}`,
    ]),
  );
  // The lab's own 9p shares (transitional 9p = 0x1009) are always there.
  expected.set("0000:00:02.0", "1af4:1009");
  expected.set("0000:00:03.0", "1af4:1009");
  assert.deepEqual(seen, expected);
  console.log(`boot to command: ${(r.bootMs / 1000).toFixed(1)} s`);
  assert.ok(r.bootMs < 30_000, `boot took ${r.bootMs} ms`);
});

Deno.test("lab: a guest that hangs is killed at the wall-clock limit and says so", async () => {
  const started = Date.now();
  await assert.rejects(
    runInLab({ devices: "none", command: ["sleep", "600"], timeoutMs: 20_000 }),
    (e) => e instanceof TimeoutError && /did not finish within 20 s/.test(e.message),
  );
  assert.ok(Date.now() - started < 40_000);
});
