/**
 * Our virtio-net driver on QEMU's real NICs, every variant × access path: frames we send
 * reach a kernel UDP socket on the peer NIC byte-exact (so the kernel found our IP and UDP
 * headers valid), datagrams the kernel sends reach our rx queue byte-exact, and afterwards
 * the device is back on virtio-pci. The guest side is tests/lab/guest/net_exchange.ts.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";

const COUNT = 300;

async function exchange(devices: string, runs: [string, string][]) {
  const script = runs.map(([dev, access]) =>
    `deno run -A --unstable-net tests/lab/guest/net_exchange.ts --dev ${dev} ` +
    `--peer 0000:00:07.0 --access ${access} --count ${COUNT}`
  ).join(" && ");
  const r = await runInLab({ devices, command: ["sh", "-c", script] });
  assert.equal(r.code, 0, r.console.slice(-2000));
  return r.stdout.trim().split("\n").map((l) => JSON.parse(l));
}

function check(result: Record<string, unknown>, expect: Record<string, unknown>) {
  for (const [k, v] of Object.entries(expect)) {
    assert.equal(result[k], v, `${k}: ${JSON.stringify(result)}`);
  }
  assert.equal(result.txDelivered, COUNT, JSON.stringify(result));
  assert.equal(result.txExact, COUNT, JSON.stringify(result));
  assert.equal(result.rxReceived, COUNT, JSON.stringify(result));
  assert.equal(result.rxExact, COUNT, JSON.stringify(result));
  assert.equal(result.driverAfter, "virtio-pci");
}

Deno.test("net driver over sysfs: modern split, legacy, modern packed exchange byte-exact frames", async () => {
  const [modern, legacy, packed] = await exchange("net", [
    ["0000:00:04.0", "sysfs"],
    ["0000:00:05.0", "sysfs"],
    ["0000:00:06.0", "sysfs"],
  ]);
  check(modern!, { transport: "modern", format: "split", access: "sysfs", linkUp: true });
  check(legacy!, { transport: "legacy", format: "split", access: "sysfs" });
  check(packed!, { transport: "modern", format: "packed", access: "sysfs" });
});

Deno.test("net driver over VFIO (q35 + intel-iommu): split and packed exchange byte-exact frames", async () => {
  const [split, packed] = await exchange("vfio", [
    ["0000:00:09.0", "vfio"],
    ["0000:00:11.0", "vfio"],
  ]);
  check(split!, { transport: "modern", format: "split", access: "vfio" });
  check(packed!, { transport: "modern", format: "packed", access: "vfio" });
});
