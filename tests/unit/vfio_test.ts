import assert from "node:assert/strict";
import { VirtioError } from "../../lib/errors.ts";
import { VfioDevice } from "../../lib/pci/vfio.ts";
import {
  packDeviceInfo,
  packDmaMap,
  packDmaUnmap,
  packGroupStatus,
  packIommuInfo,
  packRegionInfo,
  parseDeviceInfo,
  parseDmaUnmapSize,
  parseGroupStatus,
  parseIommuInfo,
  parseRegionInfo,
  SIZEOF,
  VFIO,
  VFIO_PCI_CONFIG_REGION_INDEX,
  VFIO_TYPE1V2_IOMMU,
} from "../../lib/sys/vfio_abi.ts";

Deno.test("VFIO ioctl numbers match linux/vfio.h on x86_64 (_IO(';', 100 + n))", () => {
  assert.equal(VFIO.GET_API_VERSION, 0x3b64);
  assert.equal(VFIO.CHECK_EXTENSION, 0x3b65);
  assert.equal(VFIO.SET_IOMMU, 0x3b66);
  assert.equal(VFIO.GROUP_GET_STATUS, 0x3b67);
  assert.equal(VFIO.GROUP_SET_CONTAINER, 0x3b68);
  assert.equal(VFIO.GROUP_UNSET_CONTAINER, 0x3b69);
  assert.equal(VFIO.GROUP_GET_DEVICE_FD, 0x3b6a);
  assert.equal(VFIO.DEVICE_GET_INFO, 0x3b6b);
  assert.equal(VFIO.DEVICE_GET_REGION_INFO, 0x3b6c);
  assert.equal(VFIO.DEVICE_RESET, 0x3b6f);
  assert.equal(VFIO.IOMMU_GET_INFO, 0x3b70);
  assert.equal(VFIO.IOMMU_MAP_DMA, 0x3b71);
  assert.equal(VFIO.IOMMU_UNMAP_DMA, 0x3b72);
  assert.equal(VFIO_TYPE1V2_IOMMU, 3);
  assert.equal(VFIO_PCI_CONFIG_REGION_INDEX, 7);
});

const le32 = (bytes: Uint8Array, at: number) =>
  new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true);
const le64 = (bytes: Uint8Array, at: number) =>
  new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(at, true);

Deno.test("group status: argsz 8; flags VIABLE and CONTAINER_SET parsed", () => {
  const bytes = packGroupStatus();
  assert.equal(bytes.byteLength, 8);
  assert.equal(le32(bytes, 0), 8);
  assert.deepEqual(parseGroupStatus(bytes), { viable: false, containerSet: false });
  bytes[4] = 0b11;
  assert.deepEqual(parseGroupStatus(bytes), { viable: true, containerSet: true });
  bytes[4] = 0b10;
  assert.deepEqual(parseGroupStatus(bytes), { viable: false, containerSet: true });
});

Deno.test("device info: argsz 24; flags, num_regions, num_irqs at 4/8/12", () => {
  const bytes = packDeviceInfo();
  assert.equal(le32(bytes, 0), SIZEOF.deviceInfo);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, 0b11, true); // RESET | PCI
  view.setUint32(8, 9, true);
  view.setUint32(12, 5, true);
  assert.deepEqual(parseDeviceInfo(bytes), {
    flags: 3,
    isPci: true,
    canReset: true,
    numRegions: 9,
    numIrqs: 5,
  });
});

Deno.test("region info: index at 8 in, size at 16 and offset at 24 out", () => {
  const bytes = packRegionInfo(VFIO_PCI_CONFIG_REGION_INDEX);
  assert.equal(bytes.byteLength, 32);
  assert.equal(le32(bytes, 0), 32);
  assert.equal(le32(bytes, 8), 7);
  const view = new DataView(bytes.buffer);
  view.setUint32(4, 0b111, true); // READ | WRITE | MMAP
  view.setBigUint64(16, 0x1000n, true);
  view.setBigUint64(24, 7n << 40n, true);
  assert.deepEqual(parseRegionInfo(bytes), {
    index: 7,
    flags: 7,
    readable: true,
    writable: true,
    mappable: true,
    size: 0x1000n,
    offset: 0x700_0000_0000n,
  });
});

Deno.test("IOMMU info: page sizes and the IOVA-range capability chain", () => {
  const first = packIommuInfo();
  assert.equal(first.byteLength, 24);
  assert.equal(le32(first, 0), 24);
  // What a kernel answers with two ranges: header 24, cap at 24 (16 + 2×16 bytes).
  const bytes = packIommuInfo(72);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, 72, true);
  view.setUint32(4, 0b11, true); // PGSIZES | CAPS
  view.setBigUint64(8, 0x40201000n, true); // 4K | 2M | 1G
  view.setUint32(16, 24, true); // cap_offset
  view.setUint16(24, 1, true); // id IOVA_RANGE
  view.setUint16(26, 1, true); // version
  view.setUint32(28, 0, true); // next: end
  view.setUint32(32, 2, true); // nr_iovas
  view.setBigUint64(40, 0n, true);
  view.setBigUint64(48, 0xfedf_ffffn, true);
  view.setBigUint64(56, 0xfef0_0000n, true);
  view.setBigUint64(64, 0xff_ffff_ffffn, true);
  assert.deepEqual(parseIommuInfo(bytes), {
    argsz: 72,
    flags: 3,
    pageSizes: 0x40201000n,
    iovaRanges: [
      { start: 0n, end: 0xfedf_ffffn },
      { start: 0xfef0_0000n, end: 0xff_ffff_ffffn },
    ],
  });
  // The short first answer: kernel raised argsz, no room for caps yet → no ranges, no crash.
  view.setUint32(0, 72, true);
  const short = bytes.slice(0, 24);
  assert.deepEqual(parseIommuInfo(short).iovaRanges, []);
  assert.equal(parseIommuInfo(short).argsz, 72);
  // A looping chain (next points to itself) ends within the step budget.
  view.setUint32(28, 24, true);
  assert.equal(parseIommuInfo(bytes).iovaRanges.length, 32);
});

Deno.test("DMA map/unmap structures: READ|WRITE, vaddr/iova/size little-endian", () => {
  const map = packDmaMap(0x7f00_0000_0000n, 0x1_0000_0000n, 0x20_0000n);
  assert.equal(map.byteLength, 32);
  assert.equal(le32(map, 0), 32);
  assert.equal(le32(map, 4), 3);
  assert.equal(le64(map, 8), 0x7f00_0000_0000n);
  assert.equal(le64(map, 16), 0x1_0000_0000n);
  assert.equal(le64(map, 24), 0x20_0000n);
  const unmap = packDmaUnmap(0x1_0000_0000n, 0x20_0000n);
  assert.equal(unmap.byteLength, 24);
  assert.equal(le32(unmap, 0), 24);
  assert.equal(le32(unmap, 4), 0);
  assert.equal(le64(unmap, 8), 0x1_0000_0000n);
  assert.equal(parseDmaUnmapSize(unmap), 0x20_0000n);
});

function fakeRoot(options: { vfio: boolean; group: boolean; driver: string | null }): string {
  const root = Deno.makeTempDirSync({ prefix: "virtio-vfio-" });
  const dev = `${root}/sys/bus/pci/devices/0000:00:05.0`;
  Deno.mkdirSync(dev, { recursive: true });
  if (options.vfio) {
    Deno.mkdirSync(`${root}/dev/vfio`, { recursive: true });
    Deno.writeTextFileSync(`${root}/dev/vfio/vfio`, "");
  }
  if (options.group) {
    Deno.mkdirSync(`${root}/sys/kernel/iommu_groups/4`, { recursive: true });
    Deno.symlinkSync("../../../kernel/iommu_groups/4", `${dev}/iommu_group`);
  }
  if (options.driver !== null) {
    Deno.mkdirSync(`${root}/sys/bus/pci/drivers/${options.driver}`, { recursive: true });
    Deno.symlinkSync(`../../drivers/${options.driver}`, `${dev}/driver`);
  }
  return root;
}

Deno.test("VfioDevice.open: clear errors before any ioctl", async (t) => {
  const cases: [string, Parameters<typeof fakeRoot>[0], RegExp, RegExp | null][] = [
    [
      "no VFIO",
      { vfio: false, group: true, driver: "vfio-pci" },
      /no \/dev\/vfio\/vfio/,
      /vfio-pci/,
    ],
    [
      "no group",
      { vfio: true, group: false, driver: "vfio-pci" },
      /no IOMMU group/,
      /intel_iommu=on/,
    ],
    [
      "wrong driver",
      { vfio: true, group: true, driver: "virtio-pci" },
      /bound to virtio-pci/,
      /claim/,
    ],
    ["unbound", { vfio: true, group: true, driver: null }, /bound to no driver/, /claim/],
  ];
  for (const [name, setup, message, hint] of cases) {
    await t.step(name, () => {
      const root = fakeRoot(setup);
      try {
        assert.throws(() => VfioDevice.open("0000:00:05.0", { root }), (error: unknown) => {
          assert.ok(error instanceof VirtioError);
          assert.match(error.message, message);
          if (hint !== null) assert.match(error.hint ?? "", hint);
          return true;
        });
      } finally {
        Deno.removeSync(root, { recursive: true });
      }
    });
  }
  assert.throws(() => VfioDevice.open("0000:00:1f.0", { root: "/nonexistent" }), /no PCI device/);
});
