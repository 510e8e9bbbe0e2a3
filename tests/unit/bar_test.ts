import assert from "node:assert/strict";
import { VirtioError } from "../../lib/errors.ts";
import { openDeviceBar } from "../../lib/device/bar_access.ts";
import {
  MmioRegion,
  openBarRegion,
  parseResourceFile,
  PortRegion,
  readBarInfo,
} from "../../lib/pci/bar.ts";
import { O_RDWR, openFd } from "../../lib/sys/fd.ts";
import { mapAnonymous } from "../../lib/sys/mmap.ts";
import { hostTest } from "./host_needs.ts";

function existsSync(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const RESOURCE = [
  "0x0000004000100000 0x000000400017ffff 0x0000000000140204", // 64-bit memory, 512 KiB
  "0x0000000000000000 0x0000000000000000 0x0000000000000000", // upper half / absent
  "0x000000000000c040 0x000000000000c05f 0x0000000000040101", // I/O, 32 bytes
  "",
].join("\n");

Deno.test("parseResourceFile: memory, absent and I/O BARs", () => {
  const bars = parseResourceFile(RESOURCE);
  assert.equal(bars.length, 3);
  assert.deepEqual(bars[0], {
    index: 0,
    kind: "memory",
    start: 0x4000100000n,
    size: 0x80000,
    flags: 0x140204,
    is64bit: true,
    prefetchable: false,
  });
  assert.equal(bars[1]?.kind, "absent");
  assert.equal(bars[1]?.size, 0);
  assert.equal(bars[2]?.kind, "io");
  assert.equal(bars[2]?.size, 0x20);
});

Deno.test("MmioRegion: exact-width little-endian access, alignment and bounds checked", () => {
  using memory = mapAnonymous(4096);
  const region = new MmioRegion(memory.buffer, 64, true, "test");
  region.write32(0, 0x11223344);
  assert.equal(region.read8(0), 0x44);
  assert.equal(region.read16(2), 0x1122);
  region.write16(6, 0xbeef);
  region.write8(8, 0x7f);
  assert.equal(region.read32(4), 0xbeef0000);
  assert.equal(new Uint8Array(memory.buffer)[8], 0x7f);
  assert.throws(() => region.read32(2), RangeError, "misaligned 32-bit access");
  assert.throws(() => region.read16(63), RangeError);
  assert.throws(() => region.read32(64), RangeError, "past the end");
  assert.throws(() => region.write8(-1, 0), RangeError);
});

Deno.test("MmioRegion read-only: reads work, every write throws and changes nothing", () => {
  using memory = mapAnonymous(4096);
  new Uint32Array(memory.buffer)[1] = 0xcafe;
  const region = new MmioRegion(memory.buffer, 4096, false, "ro");
  assert.equal(region.read32(4), 0xcafe);
  assert.throws(() => region.write32(4, 1), VirtioError);
  assert.throws(() => region.write16(4, 1), VirtioError);
  assert.throws(() => region.write8(4, 1), VirtioError);
  assert.equal(region.read32(4), 0xcafe);
});

Deno.test("PortRegion: pread/pwrite of 1/2/4 bytes at base+offset", () => {
  const path = Deno.makeTempFileSync();
  try {
    Deno.writeFileSync(path, new Uint8Array(64));
    using region = new PortRegion(openFd(path, O_RDWR), 16, 32, true, true);
    region.write32(0, 0x01020304);
    region.write16(4, 0xa0b0);
    region.write8(31, 0xff);
    assert.equal(region.read32(0), 0x01020304);
    assert.equal(region.read16(2), 0x0102);
    assert.equal(region.read8(4), 0xb0);
    const bytes = Deno.readFileSync(path);
    assert.deepEqual([...bytes.subarray(16, 22)], [4, 3, 2, 1, 0xb0, 0xa0]);
    assert.equal(bytes[47], 0xff);
    assert.throws(() => region.read32(30), RangeError);
    const readOnly = new PortRegion(region.file, 16, 32, false, false);
    assert.throws(() => readOnly.write8(0, 1), VirtioError);
  } finally {
    Deno.removeSync(path);
  }
});

function fakeDevice(driver: string | null): { root: string; address: string } {
  const root = Deno.makeTempDirSync();
  const address = "0000:00:09.0";
  const dir = `${root}/sys/bus/pci/devices/${address}`;
  Deno.mkdirSync(dir, { recursive: true });
  Deno.writeTextFileSync(
    `${dir}/resource`,
    [
      "0x00000000fe000000 0x00000000fe003fff 0x0000000000040200",
      "0x000000000000c040 0x000000000000c05f 0x0000000000040101",
      "0x0000000000000000 0x0000000000000000 0x0000000000000000",
    ].join("\n") + "\n",
  );
  Deno.writeFileSync(`${dir}/resource0`, new Uint8Array(0x4000));
  Deno.writeFileSync(`${dir}/resource1`, new Uint8Array(0x20));
  if (driver !== null) {
    Deno.mkdirSync(`${root}/sys/bus/pci/drivers/${driver}`, { recursive: true });
    Deno.symlinkSync(`../../../bus/pci/drivers/${driver}`, `${dir}/driver`);
  }
  return { root, address };
}

Deno.test("openBarRegion on a fake tree: memory BAR mapped, I/O BAR by pread/pwrite", () => {
  const { root, address } = fakeDevice(null);
  try {
    {
      using memory = openBarRegion(address, 0, { writable: true, sysfsRoot: root });
      assert.ok(memory instanceof MmioRegion);
      assert.equal(memory.length, 0x4000);
      memory.write32(0x100, 0x12345678);
      using io = openBarRegion(address, 1, { writable: true, sysfsRoot: root });
      assert.ok(io instanceof PortRegion);
      assert.equal(io.length, 0x20);
      io.write16(0x12, 0x4321);
    }
    const dir = `${root}/sys/bus/pci/devices/${address}`;
    assert.equal(
      new DataView(Deno.readFileSync(`${dir}/resource0`).buffer).getUint32(0x100, true),
      0x12345678,
    );
    assert.equal(
      new DataView(Deno.readFileSync(`${dir}/resource1`).buffer).getUint16(0x12, true),
      0x4321,
    );
    assert.throws(
      () => openBarRegion(address, 2, { writable: false, sysfsRoot: root }),
      /not implemented/,
    );
    assert.throws(() => readBarInfo(address, 6, root), RangeError);
    assert.throws(() => readBarInfo("0000:00:1f.7", 0, root), /no PCI device/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("openBarRegion refuses write access while a kernel driver owns the device", () => {
  const { root, address } = fakeDevice("virtio-pci");
  try {
    assert.throws(
      () => openBarRegion(address, 0, { writable: true, sysfsRoot: root }),
      /driven by the kernel driver virtio-pci/,
    );
    using readOnly = openBarRegion(address, 0, { writable: false, sysfsRoot: root });
    assert.equal(readOnly.read32(0), 0);
    assert.throws(() => readOnly.write32(0, 1), /read-only/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

Deno.test("openDeviceBar: virtio-pci with no virtio driver on top is driverless (writable); with one it is not", () => {
  const { root, address } = fakeDevice("virtio-pci");
  const child = `${root}/sys/bus/pci/devices/${address}/virtio5`;
  try {
    Deno.mkdirSync(child);
    // lib/pci knows no virtio: under any kernel driver, its BAR opener refuses writes.
    assert.throws(
      () => openBarRegion(address, 1, { writable: true, sysfsRoot: root }),
      /driven by the kernel driver virtio-pci/,
    );
    using w = openDeviceBar(address, 1, { writable: true, sysfsRoot: root });
    w.write16(0x0e, 1); // queue_select of a device no driver uses
    Deno.mkdirSync(`${root}/sys/bus/virtio/drivers/virtio_net`, { recursive: true });
    Deno.symlinkSync(`${root}/sys/bus/virtio/drivers/virtio_net`, `${child}/driver`);
    assert.throws(
      () => openDeviceBar(address, 1, { writable: true, sysfsRoot: root }),
      /driven by the kernel driver virtio-pci/,
    );
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});

/** Finds a virtio-pci capability of `cfgType` (§4.1.4) by walking the sysfs config file. */
function findVirtioCap(address: string, cfgType: number): { bar: number; offset: number } | null {
  const config = Deno.readFileSync(`/sys/bus/pci/devices/${address}/config`);
  const view = new DataView(config.buffer);
  if ((view.getUint16(6, true) & 0x10) === 0) return null;
  let pointer = config[0x34]! & 0xfc;
  for (let steps = 0; pointer !== 0 && steps < 48; steps++) {
    if (config[pointer] === 0x09 && config[pointer + 3] === cfgType) {
      return { bar: config[pointer + 4]!, offset: view.getUint32(pointer + 8, true) };
    }
    pointer = config[pointer + 1]! & 0xfc;
  }
  return null;
}

const HOST_NIC = "0000:00:03.0";
const hostNicPresent = (() => {
  try {
    return Deno.readTextFileSync(`/sys/bus/pci/devices/${HOST_NIC}/vendor`).trim() === "0x1af4";
  } catch {
    return false;
  }
})();

const hostNic = { what: `the virtio NIC ${HOST_NIC}`, ok: hostNicPresent, ci: false };

hostTest("host virtio NIC: read-only map of the common config BAR, read device_feature_select", [
  hostNic,
], () => {
  // VIRTIO 1.2 §4.1.4.3: common config starts with le32 device_feature_select. Reading it has
  // no side effect. This test maps PROT_READ and reads only those 4 bytes: never the ISR,
  // never a write (the host's own network depends on this device).
  const common = findVirtioCap(HOST_NIC, 1);
  assert.ok(common !== null, "modern virtio device has a common config capability");
  const info = readBarInfo(HOST_NIC, common.bar);
  assert.equal(info.kind, "memory");
  if (!existsSync(`/sys/bus/pci/devices/${HOST_NIC}/resource${common.bar}`)) {
    // Some kernels (e.g. Firecracker's) create no resourceN files: expect the clear error.
    assert.throws(
      () => openBarRegion(HOST_NIC, common.bar, { writable: false }),
      new RegExp(`no resource${common.bar} file`),
    );
    return;
  }
  using region = openBarRegion(HOST_NIC, common.bar, { writable: false });
  assert.ok(region instanceof MmioRegion);
  assert.equal(region.length, info.size);
  const select = region.read32(common.offset);
  assert.ok(select === 0 || select === 1, `device_feature_select is 0 or 1, got ${select}`);
  assert.throws(() => region.write32(common.offset, 0), /read-only/);
});
