import assert from "node:assert/strict";
import { FakeLegacyBar, FakeModernBar } from "../../testing/fake_virtio_pci.ts";
import { ModernTransport } from "../../lib/virtio/modern_transport.ts";
import { LegacyTransport } from "../../lib/virtio/legacy_transport.ts";
import {
  checkDeviceStatus,
  decideFeatures,
  initializeDevice,
} from "../../lib/virtio/initialize.ts";
import { DeviceError, TimeoutError, VirtioError } from "../../lib/errors.ts";

const VERSION_1 = 1n << 32n;
const MAC = 1n << 5n;
const MTU = 1n << 3n;
const EVENT_IDX = 1n << 29n;
const PACKED = 1n << 34n;
const NOTIFICATION_DATA = 1n << 38n;

function modern(o: ConstructorParameters<typeof FakeModernBar>[0] = {}) {
  const bar = new FakeModernBar({ deviceType: 1, ...o });
  const t = new ModernTransport({ deviceType: 1, caps: bar.caps(), openBar: () => bar });
  return { bar, t };
}

Deno.test("decideFeatures: accepts offered∩(required∪wanted) minus refused, explains the rest", () => {
  const d = decideFeatures(1, VERSION_1 | MAC | MTU | EVENT_IDX, {
    required: VERSION_1,
    wanted: MAC | EVENT_IDX | PACKED,
    refused: EVENT_IDX,
  });
  assert.equal(d.accepted, VERSION_1 | MAC);
  assert.deepEqual(d.missing, []);
  assert.deepEqual(
    d.declined.map((n) => [n.bit, n.name, n.reason]),
    [[3, "MTU", "not used by this driver"], [29, "EVENT_IDX", "refused by caller"]],
  );
  const m = decideFeatures(1, MAC, { required: MAC | PACKED });
  assert.deepEqual(m.missing.map((n) => [n.name, n.reason]), [["RING_PACKED", "not offered"]]);
});

Deno.test("modern: §3.1.1 sequence reaches DRIVER_OK with 64-bit features and queue addresses", () => {
  const { bar, t } = modern({ features: VERSION_1 | MAC | PACKED | (1n << 40n) });
  const { decision, value } = initializeDevice(t, { wanted: MAC | PACKED }, (d) => {
    assert.equal(t.getStatus(), 1 | 2 | 8, "FEATURES_OK before queue setup");
    assert.equal(t.queueMaxSize(1), 256);
    t.setupQueue(1, 128, { desc: 0x1_2345_6000, driver: 0x7000, device: 0x8000 });
    return d.accepted;
  });
  assert.equal(value, VERSION_1 | MAC | PACKED);
  assert.equal(bar.state.driverFeatures, decision.accepted);
  assert.equal(t.getStatus(), 1 | 2 | 4 | 8);
  const q = bar.state.queues[1]!;
  assert.deepEqual(
    [q.size, q.desc, q.driver, q.device, q.enabled, q.msixVector],
    [128, 0x1_2345_6000, 0x7000, 0x8000, true, 0xffff],
  );
  // Status writes in order: reset, ACK, ACK|DRIVER, +FEATURES_OK, +DRIVER_OK (§3.1.1).
  const statusWrites = bar.writes.filter(([o]) => o === 0x14).map(([, , v]) => v);
  assert.deepEqual(statusWrites, [0, 1, 3, 11, 15]);
});

Deno.test("modern: VERSION_1 is required; a device without it fails and is marked FAILED", () => {
  const { t } = modern({ features: MAC });
  assert.throws(() => initializeDevice(t, { wanted: MAC }, () => 0), /VERSION_1/);
  assert.ok(t.getStatus() & 128);
});

Deno.test("modern: a device that clears FEATURES_OK is reported and marked FAILED", () => {
  const { t } = modern({ features: VERSION_1 | MAC, acceptFeatures: (f) => !(f & MAC) });
  assert.throws(
    () => initializeDevice(t, { wanted: MAC }, () => 0),
    (e) => e instanceof DeviceError && /refused the feature set/.test(e.message),
  );
  assert.equal(t.getStatus() & 128, 128);
});

Deno.test("modern: reset waits for the device, and gives up with a TimeoutError", () => {
  const slow = modern({ features: VERSION_1, resetLatencyReads: 3 });
  slow.t.setStatus(1);
  slow.t.reset(1000);
  assert.equal(slow.t.getStatus(), 0);
  const stuck = modern({ features: VERSION_1, resetLatencyReads: Infinity });
  stuck.t.setStatus(1);
  assert.throws(() => stuck.t.reset(20), TimeoutError);
});

Deno.test("modern: queue size 0 and oversize queues are refused", () => {
  const { t } = modern({ features: VERSION_1, queueSizes: [0, 64] });
  assert.throws(() => t.setupQueue(0, 64, { desc: 0, driver: 0, device: 0 }), /not available/);
  assert.throws(() => t.setupQueue(1, 128, { desc: 0, driver: 0, device: 0 }), /above/);
  assert.equal(t.queueMaxSize(5), 0);
});

Deno.test("modern: notify writes the queue index at queue_notify_off × multiplier", () => {
  const { bar, t } = modern({ features: VERSION_1, queueSizes: [8, 8, 8] });
  t.setDriverFeatures(VERSION_1);
  t.notifier(2)(123);
  t.notifier(0)(5);
  assert.deepEqual(bar.state.notifications, [{ queue: 2 }, { queue: 0 }]);
  t.setDriverFeatures(VERSION_1 | NOTIFICATION_DATA);
  t.notifier(1)(0x8005);
  assert.deepEqual(bar.state.notifications[2], { queue: 1, data: 0x8005 });
});

Deno.test("modern: DEVICE_NEEDS_RESET and a vanished device are noticed", () => {
  const { bar, t } = modern({ features: VERSION_1 });
  initializeDevice(t, {}, () => 0);
  checkDeviceStatus(t);
  bar.state.needsReset();
  assert.throws(() => checkDeviceStatus(t), /needs a reset/);
  bar.state.status = 0xff;
  assert.throws(() => checkDeviceStatus(t), /reads 0xff: the device is gone/);
  bar.state.status = 0;
  assert.throws(() => checkDeviceStatus(t), /reads 0: the device was reset .* or is gone/);
});

Deno.test("modern: config reads retry on generation change and give up on a device that never settles", () => {
  const cfg = new Uint8Array(16);
  cfg.set([1, 2, 3, 4, 5, 6, 7, 8]);
  const stable = modern({ features: VERSION_1, config: cfg });
  assert.equal(stable.t.deviceConfig.consistent((c) => c.read64(0)), 0x0807060504030201n);
  const unstable = modern({ features: VERSION_1, config: cfg, unstableGeneration: true });
  assert.throws(() => unstable.t.deviceConfig.consistent((c) => c.read8(0)), /kept changing/);
});

Deno.test("modern: a missing capability is a clear error, and BARs are closed", () => {
  const bar = new FakeModernBar();
  const caps = bar.caps().filter((c) => c.typeName !== "notify");
  assert.throws(
    () => new ModernTransport({ deviceType: 1, caps, openBar: () => bar }),
    /without a notification capability/,
  );
  assert.ok(bar.disposed);
});

Deno.test("legacy: 32-bit features, no FEATURES_OK, fixed queue size, PFN of a 4 KiB-aligned ring", () => {
  const bar = new FakeLegacyBar({ features: MAC | EVENT_IDX, queueSizes: [256, 256] });
  const t = new LegacyTransport(1, bar);
  initializeDevice(t, { wanted: MAC }, () => {
    assert.throws(() => t.setupQueue(0, 128, { desc: 0x10000, driver: 0, device: 0 }), /fixed/);
    assert.throws(() => t.setupQueue(0, 256, { desc: 0x10800, driver: 0, device: 0 }), /aligned/);
    t.setupQueue(0, 256, { desc: 0x12345000, driver: 0, device: 0 });
  });
  assert.equal(bar.pfns[0], 0x12345);
  assert.equal(bar.state.driverFeatures, MAC);
  assert.equal(t.getStatus(), 1 | 2 | 4, "no FEATURES_OK on legacy");
  assert.equal(t.numQueues(), 2);
  assert.throws(() => t.setDriverFeatures(VERSION_1), VirtioError);
  t.notifier(1)(0);
  assert.deepEqual(bar.state.notifications, [{ queue: 1 }]);
});
