// Pins the spec values (VIRTIO 1.2 §2.1, §4.1.4.3, §4.1.4.8, §5, §6): a changed constant must
// fail here, not in a device.
import assert from "node:assert/strict";
import * as C from "../../lib/virtio/constants.ts";
import * as F from "../../lib/virtio/features.ts";
import {
  DEVICE_TYPES,
  deviceTypeFromName,
  deviceTypeName,
  virtioIdentityFromPci,
} from "../../lib/virtio/device_types.ts";

Deno.test("device status bits (§2.1)", () => {
  assert.deepEqual(
    [C.STATUS_ACKNOWLEDGE, C.STATUS_DRIVER, C.STATUS_DRIVER_OK, C.STATUS_FEATURES_OK],
    [1, 2, 4, 8],
  );
  assert.deepEqual([C.STATUS_DEVICE_NEEDS_RESET, C.STATUS_FAILED], [64, 128]);
  assert.deepEqual(C.statusNames(0x8b), ["ACKNOWLEDGE", "DRIVER", "FEATURES_OK", "FAILED"]);
});

Deno.test("transport feature bits (§6)", () => {
  assert.deepEqual(
    [
      C.VIRTIO_F_NOTIFY_ON_EMPTY,
      C.VIRTIO_F_ANY_LAYOUT,
      C.VIRTIO_F_INDIRECT_DESC,
      C.VIRTIO_F_EVENT_IDX,
      C.VIRTIO_F_VERSION_1,
      C.VIRTIO_F_ACCESS_PLATFORM,
      C.VIRTIO_F_RING_PACKED,
      C.VIRTIO_F_IN_ORDER,
      C.VIRTIO_F_ORDER_PLATFORM,
      C.VIRTIO_F_SR_IOV,
      C.VIRTIO_F_NOTIFICATION_DATA,
      C.VIRTIO_F_NOTIF_CONFIG_DATA,
      C.VIRTIO_F_RING_RESET,
    ],
    [24n, 27n, 28n, 29n, 32n, 33n, 34n, 35n, 36n, 37n, 38n, 39n, 40n],
  );
  for (const [bit, name] of C.TRANSPORT_FEATURES) {
    assert.equal(C[`VIRTIO_F_${name}` as keyof typeof C], BigInt(bit), name);
  }
});

Deno.test("common configuration layout (§4.1.4.3)", () => {
  assert.deepEqual(Object.values(C.COMMON_CFG), [
    0x00,
    0x04,
    0x08,
    0x0c,
    0x10,
    0x12,
    0x14,
    0x15,
    0x16,
    0x18,
    0x1a,
    0x1c,
    0x1e,
    0x20,
    0x28,
    0x30,
    0x38,
    0x3a,
  ]);
  assert.equal(C.COMMON_CFG_MIN_LENGTH, 0x38);
});

Deno.test("legacy I/O BAR layout (§4.1.4.8)", () => {
  assert.deepEqual(
    [
      C.LEGACY.host_features,
      C.LEGACY.guest_features,
      C.LEGACY.queue_address,
      C.LEGACY.queue_size,
      C.LEGACY.queue_select,
      C.LEGACY.queue_notify,
      C.LEGACY.device_status,
      C.LEGACY.isr_status,
      C.LEGACY.device_config,
      C.LEGACY.device_config_msix,
    ],
    [0, 4, 8, 12, 14, 16, 18, 19, 20, 24],
  );
});

Deno.test("virtio PCI capability types and fields (§4.1.4)", () => {
  assert.deepEqual(
    [
      C.VIRTIO_PCI_CAP_COMMON_CFG,
      C.VIRTIO_PCI_CAP_NOTIFY_CFG,
      C.VIRTIO_PCI_CAP_ISR_CFG,
      C.VIRTIO_PCI_CAP_DEVICE_CFG,
      C.VIRTIO_PCI_CAP_PCI_CFG,
      C.VIRTIO_PCI_CAP_SHARED_MEMORY_CFG,
      C.VIRTIO_PCI_CAP_VENDOR_CFG,
    ],
    [1, 2, 3, 4, 5, 8, 9],
  );
  assert.deepEqual(Object.values(C.VIRTIO_PCI_CAP), [0, 1, 2, 3, 4, 5, 8, 12, 16, 16, 20]);
});

Deno.test("device-specific feature bits (§5.1.3, §5.2.3)", () => {
  assert.deepEqual(
    [F.VIRTIO_NET_F_CSUM, F.VIRTIO_NET_F_MTU, F.VIRTIO_NET_F_MAC, F.VIRTIO_NET_F_MRG_RXBUF],
    [0n, 3n, 5n, 15n],
  );
  assert.deepEqual(
    [F.VIRTIO_NET_F_STATUS, F.VIRTIO_NET_F_CTRL_VQ, F.VIRTIO_NET_F_MQ, F.VIRTIO_NET_F_RSS],
    [16n, 17n, 22n, 60n],
  );
  assert.equal(F.VIRTIO_NET_F_SPEED_DUPLEX, 63n);
  assert.deepEqual(
    [F.VIRTIO_BLK_F_SIZE_MAX, F.VIRTIO_BLK_F_SEG_MAX, F.VIRTIO_BLK_F_GEOMETRY, F.VIRTIO_BLK_F_RO],
    [1n, 2n, 4n, 5n],
  );
  assert.deepEqual(
    [F.VIRTIO_BLK_F_BLK_SIZE, F.VIRTIO_BLK_F_FLUSH, F.VIRTIO_BLK_F_TOPOLOGY, F.VIRTIO_BLK_F_MQ],
    [6n, 9n, 10n, 12n],
  );
  assert.deepEqual([F.VIRTIO_BLK_F_DISCARD, F.VIRTIO_BLK_F_WRITE_ZEROES], [13n, 14n]);
  // Every named net/blk constant agrees with the name table.
  for (const [type, prefix] of [[1, "VIRTIO_NET_F_"], [2, "VIRTIO_BLK_F_"]] as const) {
    for (const [bit, name] of F.DEVICE_FEATURES.get(type)!) {
      assert.equal(F[`${prefix}${name}` as keyof typeof F], BigInt(bit), `${prefix}${name}`);
    }
  }
});

Deno.test("device types (§5) and PCI ids (§4.1.2)", () => {
  const expected: [number, string][] = [
    [1, "net"],
    [2, "blk"],
    [3, "console"],
    [4, "rng"],
    [5, "balloon"],
    [8, "scsi"],
    [9, "9p"],
    [16, "gpu"],
    [18, "input"],
    [19, "vsock"],
    [20, "crypto"],
    [23, "iommu"],
    [24, "mem"],
    [25, "sound"],
    [26, "fs"],
    [27, "pmem"],
    [40, "bt"],
    [44, "ism"],
  ];
  for (const [id, name] of expected) assert.equal(deviceTypeName(id), name);
  for (let id = 1; id <= 44; id++) {
    if (![14, 15, 37].includes(id)) assert.ok(DEVICE_TYPES.has(id), `type ${id} has a name`);
  }
  assert.equal(deviceTypeName(99), "type-99");
  assert.equal(deviceTypeFromName("block"), 2);
  assert.equal(deviceTypeFromName("9p"), 9);
  assert.equal(deviceTypeFromName("nope"), undefined);
  assert.deepEqual(virtioIdentityFromPci(0x1af4, 0x1041, 0x1041), { type: 1, idKind: "modern" });
  assert.deepEqual(virtioIdentityFromPci(0x1af4, 0x1000, 0x0001), {
    type: 1,
    idKind: "transitional",
  });
  assert.deepEqual(virtioIdentityFromPci(0x1af4, 0x1009, 0), { type: 9, idKind: "transitional" });
  assert.equal(virtioIdentityFromPci(0x8086, 0x1041, 0), undefined);
  assert.equal(virtioIdentityFromPci(0x1af4, 0x1100, 0), undefined);
});

Deno.test("features: >64 bits, sysfs strings, naming unknown bits", () => {
  assert.equal(F.parseSysfsFeatureString("1010"), 0b0101n);
  assert.equal(F.parseSysfsFeatureString("0".repeat(100) + "1"), 1n << 100n);
  assert.throws(() => F.parseSysfsFeatureString("01x"), SyntaxError);
  assert.deepEqual(F.featureBits((1n << 100n) | 5n), [0, 2, 100]);
  const named = F.nameFeatures(
    1,
    (1n << 5n) | (1n << 4n) | (1n << 32n) | (1n << 41n) | (1n << 90n),
  );
  assert.deepEqual(named, [
    { bit: 4, scope: "device" },
    { bit: 5, name: "MAC", scope: "device" },
    { bit: 32, name: "VERSION_1", scope: "transport" },
    { bit: 41, name: "ADMIN_VQ", scope: "transport" },
    { bit: 90, scope: "device" },
  ]);
  assert.equal(F.featuresHex(1n << 64n), "0x10000000000000000");
  assert.equal(F.featuresHex(0x24n), "0x0000000000000024");
});
