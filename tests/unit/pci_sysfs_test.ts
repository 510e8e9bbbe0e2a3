import assert from "node:assert/strict";
import { PciSysfs } from "../../lib/pci/sysfs.ts";
import { readSysfsConfigSpace } from "../../lib/pci/sysfs_config.ts";
import { featureBits } from "../../lib/virtio/features.ts";

const root = new URL("../fixtures/host/sys", import.meta.url).pathname;
const sysfs = new PciSysfs(root);

Deno.test("PciSysfs lists the recorded functions in order", () => {
  assert.deepEqual(sysfs.listFunctions(), [
    "0000:00:00.0",
    "0000:00:01.0",
    "0000:00:02.0",
    "0000:00:03.0",
    "0000:00:04.0",
    "0000:00:05.0",
  ]);
  assert.equal(sysfs.exists("0000:00:03.0"), true);
  assert.equal(sysfs.exists("0000:00:09.0"), false);
});

Deno.test("PciSysfs reads ids, driver, BARs and the kernel's virtio view of the NIC", () => {
  const nic = sysfs.readFunction("0000:00:03.0");
  assert.equal(nic.vendor, 0x1af4);
  assert.equal(nic.device, 0x1041);
  assert.equal(nic.subsystemDevice, 0x1041);
  assert.equal(nic.revision, 1);
  assert.equal(nic.classCode, 0x020000);
  assert.equal(nic.driver, "virtio-pci");
  assert.equal(nic.bars.length, 1);
  assert.deepEqual(
    [nic.bars[0]!.index, nic.bars[0]!.kind, nic.bars[0]!.size, nic.bars[0]!.is64bit],
    [0, "memory", 512 * 1024, true],
  );
  assert.equal(nic.bars[0]!.prefetchable, false);
  assert.equal(nic.virtio?.name, "virtio2");
  assert.equal(nic.virtio?.deviceType, 1);
  assert.equal(nic.virtio?.driver, "virtio_net");
  assert.equal(nic.virtio?.status, 0x0f);
  assert.deepEqual(featureBits(nic.virtio!.features!), [0, 1, 5, 7, 8, 10, 11, 12, 14, 15, 29, 32]);
  assert.equal(nic.virtio?.netInterfaces.length, 1);
  assert.match(nic.virtio!.netInterfaces[0]!.mac!, /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
});

Deno.test("PciSysfs finds the block device and the host bridge has no virtio child", () => {
  const blk = sysfs.readFunction("0000:00:02.0");
  assert.equal(blk.virtio?.blockDevices[0]?.name, "vda");
  assert.equal(typeof blk.virtio?.blockDevices[0]?.sectors, "number");
  const bridge = sysfs.readFunction("0000:00:00.0");
  assert.equal(bridge.virtio, undefined);
  assert.equal(bridge.driver, undefined);
  assert.deepEqual(bridge.bars, []);
});

Deno.test("listVirtioBus resolves each virtio device to its PCI parent", () => {
  const bus = sysfs.listVirtioBus();
  assert.deepEqual(bus.map((d) => d.name), ["virtio0", "virtio1", "virtio2", "virtio3", "virtio4"]);
  assert.deepEqual(bus.map((d) => d.transport), ["pci", "pci", "pci", "pci", "pci"]);
  assert.deepEqual(bus.map((d) => d.deviceType), [5, 2, 1, 19, 4]);
  assert.equal(bus[2]!.parent, "0000:00:03.0");
});

Deno.test("listVirtioBus marks a virtio-mmio parent as mmio", () => {
  const tmp = Deno.makeTempDirSync();
  try {
    const dev = `${tmp}/devices/platform/a000000.virtio_mmio/virtio0`;
    Deno.mkdirSync(dev, { recursive: true });
    Deno.writeTextFileSync(`${dev}/device`, "0x0002\n");
    Deno.writeTextFileSync(`${dev}/vendor`, "0x554d4551\n");
    Deno.writeTextFileSync(`${dev}/features`, "0".repeat(32) + "1" + "0".repeat(31) + "\n");
    Deno.mkdirSync(`${tmp}/bus/virtio/devices`, { recursive: true });
    Deno.symlinkSync(
      "../../../devices/platform/a000000.virtio_mmio/virtio0",
      `${tmp}/bus/virtio/devices/virtio0`,
    );
    const [only, ...rest] = new PciSysfs(tmp).listVirtioBus();
    assert.equal(rest.length, 0);
    assert.equal(only?.transport, "mmio");
    assert.equal(only?.parent, "a000000.virtio_mmio");
    assert.equal(only?.deviceType, 2);
    assert.equal(only?.features, 1n << 32n);
  } finally {
    Deno.removeSync(tmp, { recursive: true });
  }
});

Deno.test("readSysfsConfigSpace reads the recorded 256 bytes (conventional PCI here), read-only", () => {
  const cs = readSysfsConfigSpace(`${root}/bus/pci/devices/0000:00:03.0`);
  assert.equal(cs.size, 256);
  assert.equal(cs.read16(0), 0x1af4);
  assert.equal(cs.read16(2), 0x1041);
  assert.throws(() => cs.write8(4), /read-only/);
  assert.throws(() => cs.read32(254), RangeError);
});
