/** Pins the ring layout constants and arithmetic to the values of VIRTIO 1.2 §2.7 and §2.8. */
import assert from "node:assert/strict";
import * as L from "../../lib/queue/layout.ts";

Deno.test("split ring constants (§2.7)", () => {
  assert.deepEqual(
    [L.SPLIT_DESC_SIZE, L.SPLIT_DESC_ADDR, L.SPLIT_DESC_LEN, L.SPLIT_DESC_FLAGS, L.SPLIT_DESC_NEXT],
    [16, 0, 8, 12, 14],
  );
  assert.deepEqual([L.VIRTQ_DESC_F_NEXT, L.VIRTQ_DESC_F_WRITE, L.VIRTQ_DESC_F_INDIRECT], [1, 2, 4]);
  assert.deepEqual([L.AVAIL_FLAGS, L.AVAIL_IDX, L.AVAIL_RING], [0, 2, 4]);
  assert.deepEqual([L.USED_FLAGS, L.USED_IDX, L.USED_RING, L.USED_ELEM_SIZE], [0, 2, 4, 8]);
  assert.equal(L.VIRTQ_AVAIL_F_NO_INTERRUPT, 1);
  assert.equal(L.VIRTQ_USED_F_NO_NOTIFY, 1);
  assert.deepEqual([L.SPLIT_DESC_ALIGN, L.SPLIT_AVAIL_ALIGN, L.SPLIT_USED_ALIGN], [16, 2, 4]);
  assert.equal(L.LEGACY_QUEUE_ALIGN, 4096);
  assert.equal(L.MAX_QUEUE_SIZE, 32768);
});

Deno.test("split ring sizes and offsets (§2.7 table, used_event / avail_event)", () => {
  assert.equal(L.splitDescBytes(256), 4096);
  assert.equal(L.splitAvailBytes(256), 518);
  assert.equal(L.splitUsedBytes(256), 2054);
  assert.equal(L.usedEventOffset(256), 516);
  assert.equal(L.availEventOffset(256), 2052);
  const modern = L.splitLayout(256, false);
  assert.deepEqual([modern.desc, modern.avail, modern.used], [0, 4096, 4616]);
  assert.equal(modern.used % 4, 0);
  assert.ok(modern.total >= modern.used + 2054);
  // Legacy, as Linux's vring_size(256, 4096) = 4096 + 518 → 8192, + 2054 → 10246 (12288 rounded).
  const legacy = L.splitLayout(256, true);
  assert.deepEqual([legacy.desc, legacy.avail, legacy.used, legacy.total], [0, 4096, 8192, 12288]);
  const small = L.splitLayout(4, true);
  assert.deepEqual([small.avail, small.used], [64, 4096]);
});

Deno.test("packed ring constants (§2.8)", () => {
  assert.deepEqual(
    [
      L.PACKED_DESC_SIZE,
      L.PACKED_DESC_ADDR,
      L.PACKED_DESC_LEN,
      L.PACKED_DESC_ID,
      L.PACKED_DESC_FLAGS,
    ],
    [16, 0, 8, 12, 14],
  );
  assert.deepEqual(
    [L.VIRTQ_PACKED_F_NEXT, L.VIRTQ_PACKED_F_WRITE, L.VIRTQ_PACKED_F_INDIRECT],
    [1, 2, 4],
  );
  assert.equal(L.VIRTQ_PACKED_F_AVAIL, 0x80);
  assert.equal(L.VIRTQ_PACKED_F_USED, 0x8000);
  assert.deepEqual([L.EVENT_SUPPRESS_SIZE, L.EVENT_OFF_WRAP, L.EVENT_FLAGS, L.EVENT_WRAP_BIT], [
    4,
    0,
    2,
    15,
  ]);
  assert.deepEqual(
    [L.RING_EVENT_FLAGS_ENABLE, L.RING_EVENT_FLAGS_DISABLE, L.RING_EVENT_FLAGS_DESC],
    [0, 1, 2],
  );
  const p = L.packedLayout(256);
  assert.deepEqual([p.desc, p.driver, p.device, p.total], [0, 4096, 4100, 4104]);
});

Deno.test("needEvent is vring_need_event modulo 2^16", () => {
  assert.equal(L.needEvent(0, 1, 0), true);
  assert.equal(L.needEvent(1, 1, 0), false);
  assert.equal(L.needEvent(4, 5, 0), true);
  assert.equal(L.needEvent(5, 5, 0), false);
  assert.equal(L.needEvent(0xffff, 2, 0xfffe), true, "window wraps past 65535");
  assert.equal(L.needEvent(2, 2, 0xfffe), false);
  assert.equal(L.needEvent(7, 7, 7), false, "empty window");
});
