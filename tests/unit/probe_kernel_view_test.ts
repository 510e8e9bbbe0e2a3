import assert from "node:assert/strict";
import { probeDevice } from "../../lib/probe/probe.ts";
import { readKernelView } from "../../lib/probe/kernel_view.ts";
import { BLK_SECTORS, FIXTURE_SYSFS, NET_MAC } from "./probe_helpers_fakes.ts";

const DEVICES = `${FIXTURE_SYSFS}/bus/pci/devices`;

Deno.test("kernel view: the recorded host's NIC and disk as the kernel reports them", () => {
  const [eth] = readKernelView(`${DEVICES}/0000:00:03.0/virtio2`);
  assert.equal(eth?.name, "eth0");
  assert.equal(eth.source, "sysfs");
  assert.equal(eth.fields.mac, NET_MAC);
  assert.equal(eth.fields.mtu, 1400);
  assert.equal(eth.fields.rx_queues, 1);
  // The recording's speed is -1 and duplex unknown (no SPEED_DUPLEX): left out, not guessed.
  assert.equal("speed_mbps" in eth.fields, false);
  assert.equal("duplex" in eth.fields, false);
  const [vda] = readKernelView(`${DEVICES}/0000:00:02.0/virtio1`);
  assert.equal(vda?.name, "vda");
  assert.equal(vda.fields.capacity_sectors, BLK_SECTORS);
  assert.equal(vda.fields.capacity_bytes, BLK_SECTORS * 512);
  assert.equal(vda.fields.logical_block_size, 512);
  assert.equal(vda.fields.read_only, false);
  assert.equal(vda.fields.queues, 1);
});

Deno.test("kernel view: in the probe report of a bound device, none for a device without one", () => {
  const blk = probeDevice("0000:00:02.0", { sysfsRoot: FIXTURE_SYSFS });
  assert.equal(blk.kernel_view?.[0]?.fields.capacity_sectors, BLK_SECTORS);
  const rng = probeDevice("0000:00:05.0", { sysfsRoot: FIXTURE_SYSFS });
  assert.equal(rng.kernel_view, undefined);
  assert.deepEqual(readKernelView(`${DEVICES}/0000:00:05.0/nonexistent`), []);
});
