/**
 * `virtio probe` on real QEMU devices in the lab: what it reports equals what QEMU was given,
 * what the guest kernel shows (sysfs feature bits) and what `lspci -vv` prints. One boot.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";
import { DEVICES, pciAddress, resolveDevices } from "../../lib/lab/devices.ts";
import type { DeviceReport, ProbeReport } from "../../lib/probe/report.ts";

const SEP = "=====8<=====";
const PACKED = pciAddress(DEVICES["net-packed"]!.slot);

Deno.test("lab: probe matches QEMU's devices, the guest kernel and lspci -vv", async () => {
  const script = [
    "virtio probe --json",
    `echo '${SEP}'`,
    "for d in /sys/bus/virtio/devices/*; do echo $(basename $d) $(cat $d/features); done",
    `echo '${SEP}'`,
    "lspci -vv -D -d 1af4:",
    `echo '${SEP}'`,
    // Throwaway guest: take the packed NIC from its driver, then probe it with selector writes.
    `echo ${PACKED} > /sys/bus/pci/drivers/virtio-pci/unbind`,
    `virtio probe --json --allow-writes ${PACKED}`,
  ].join("; ");
  const r = await runInLab({ devices: "probe", command: ["sh", "-c", script] });
  assert.equal(r.code, 0, r.console.slice(-2000));
  const [probeJson, featuresText, lspci, unboundJson] = r.stdout.split(SEP + "\n");
  const report: ProbeReport = JSON.parse(probeJson!);
  const byAddress = new Map(report.devices.map((d) => [d.address, d]));

  // Every device QEMU was given is there with the right type and ids.
  for (const dev of resolveDevices("probe")) {
    const d = byAddress.get(pciAddress(dev.slot));
    assert.ok(d, `${dev.name} missing`);
    assert.equal(d.type.id, dev.virtioType, dev.name);
    assert.equal(d.ids.device, "0x" + dev.pciDeviceId.toString(16).padStart(4, "0"), dev.name);
  }

  // Negotiated features, named, equal the guest kernel's bit strings.
  const kernelBits = new Map(
    featuresText!.trim().split("\n").map((l) => {
      const [name, bits] = l.split(" ");
      return [name!, [...bits!].flatMap((c, i) => (c === "1" ? [i] : []))] as const;
    }),
  );
  for (const d of report.devices) {
    if (!d.kernel_name || !d.virtio_driver) continue;
    assert.deepEqual(d.features.negotiated?.bits.map((b) => b.bit), kernelBits.get(d.kernel_name));
    assert.deepEqual(d.features.negotiated?.unknown, [], `${d.address} has unnamed bits`);
  }

  // Virtio capabilities and MSI-X sizes equal lspci -vv.
  for (const block of lspci!.split("\n\n").filter((b) => b.trim())) {
    const address = block.slice(0, 12);
    const d = byAddress.get(address)!;
    assert.ok(d, `probe misses ${address}`);
    const theirs: number[][] = [
      ...block.matchAll(/BAR=(\d+) offset=([0-9a-f]+) size=([0-9a-f]+)/g),
    ].map((m) => [Number(m[1]), parseInt(m[2]!, 16), parseInt(m[3]!, 16)]);
    const ours = d.virtio_capabilities.map((c) => [c.bar, Number(c.offset), Number(c.length)]);
    assert.deepEqual(ours, theirs, address);
    const count = /MSI-X: Enable[+-] Count=(\d+)/.exec(block)?.[1];
    if (count !== undefined) assert.equal(d.msix?.table_size, Number(count), address);
  }

  // What QEMU was given.
  const at = (name: string): DeviceReport => byAddress.get(pciAddress(DEVICES[name]!.slot))!;
  const modern = at("net-modern");
  assert.equal(modern.interfaces.net[0]?.mac, DEVICES["net-modern"]!.given.mac);
  assert.equal(modern.interfaces.net[0]?.mtu, DEVICES["net-modern"]!.given.mtu);
  const legacy = at("net-legacy");
  assert.equal(legacy.kind, "legacy");
  assert.equal(legacy.config?.fields.mac, DEVICES["net-legacy"]!.given.mac);
  const blk = at("blk");
  assert.equal((blk.interfaces.block[0]?.sectors ?? 0) * 512, DEVICES.blk!.given.capacityBytes);
  const root9p = byAddress.get("0000:00:02.0")!;
  assert.equal(root9p.type.name, "9p");
  assert.equal(root9p.interfaces.mount_tag, "root");
  assert.equal(root9p.config?.fields.tag, "root", "9p tag read from the device");

  // The unbound packed NIC: offered features, queue sizes and config straight from the device.
  const unbound: DeviceReport = JSON.parse(unboundJson!).devices[0];
  assert.equal(unbound.driver, undefined);
  assert.equal(unbound.features.offered?.source, "device");
  assert.ok(unbound.features.offered?.bits.some((b) => b.name === "RING_PACKED"));
  assert.ok(unbound.features.offered?.bits.some((b) => b.name === "VERSION_1"));
  assert.equal(unbound.queues?.[0]?.max_size, 256);
  assert.equal(unbound.config?.via, "modern");
  assert.equal(unbound.config?.fields.mac, DEVICES["net-packed"]!.given.mac);
  console.log(
    `probe lab: boot ${(r.bootMs / 1000).toFixed(1)} s, total ${(r.totalMs / 1000).toFixed(1)} s`,
  );
});
