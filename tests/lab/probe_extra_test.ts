/**
 * `virtio probe --pci-cfg` on the devices beyond the default sets (`probe-extra`): a NIC with
 * speed, duplex and a 9000-byte MTU, a 4 KiB-sector disk with discard and two queues, and a
 * crypto device — kernel-owned, read through the §4.1.4.9 window, with the values QEMU was
 * given, and the kernel's sysfs view agreeing. One boot.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import { DEVICES, pciAddress } from "../../lib/lab/devices.ts";
import type { ProbeReport } from "../../lib/probe/report.ts";

Deno.test("lab: probe --pci-cfg decodes a speed/duplex NIC, a 4 KiB-sector disk and crypto as QEMU was given them", async () => {
  const r = await runInLab({
    devices: "probe-extra",
    command: ["virtio", "probe", "--json", "--pci-cfg"],
  });
  assert.equal(r.code, 0, r.console.slice(-2000));
  const report: ProbeReport = JSON.parse(r.stdout);
  const get = (name: string) => {
    const d = report.devices.find((x) => x.address === pciAddress(DEVICES[name]!.slot));
    assert.ok(d, `${name} missing`);
    assert.ok(d.virtio_driver, `${name}: no driver bound (modalias loading)`);
    assert.equal(d.pci_cfg?.works, true, `${name}: ${d.findings.join("; ")}`);
    assert.equal(d.pci_cfg?.disarmed, true, name);
    return d;
  };
  const net = get("net-speed");
  const given = DEVICES["net-speed"]!.given;
  assert.equal(net.config?.fields.speed_mbps, given.speedMbps);
  assert.equal(net.config?.fields.duplex, given.duplex);
  assert.equal(net.config?.fields.mtu, given.mtu);
  assert.equal(net.kernel_view?.[0]?.fields.mtu, given.mtu, "the kernel took the device's MTU");

  const blk = get("blk-4k");
  const g = DEVICES["blk-4k"]!.given;
  assert.equal(blk.config?.fields.blk_size, g.blockSize);
  assert.equal(blk.config?.fields.capacity_bytes, g.capacityBytes);
  assert.equal(blk.config?.fields.num_queues, g.numQueues);
  const kv = blk.kernel_view?.[0]?.fields ?? {};
  assert.equal(kv.logical_block_size, g.blockSize);
  assert.equal(kv.physical_block_size, g.blockSize);
  assert.equal(kv.capacity_bytes, g.capacityBytes);
  assert.ok(Number(kv.discard_max_hw_bytes) > 0, "discard offered but the kernel has no limit");

  const crypto = get("crypto");
  assert.equal(crypto.config?.fields.max_dataqueues, DEVICES.crypto!.given.maxDataQueues);
});
