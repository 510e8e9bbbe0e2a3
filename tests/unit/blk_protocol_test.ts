/** virtio-blk request header/status/limits (§5.2.6) and the blkgen verification pattern. */
import assert from "node:assert/strict";
import {
  blkLimits,
  checkBlkRequest,
  decodeBlkId,
  decodeBlkStatus,
  encodeBlkHeader,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
} from "../../lib/blk/protocol.ts";
import { checkPattern, crc32c, fillPattern } from "../../lib/blk/pattern.ts";
import {
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_MQ,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_SIZE_MAX,
} from "../../lib/virtio/features.ts";

const bit = (b: bigint) => 1n << b;

Deno.test("blk: header is le32 type, le32 zero, le64 sector", () => {
  const h = encodeBlkHeader(VIRTIO_BLK_T_OUT, 0x0102030405060708n);
  assert.deepEqual([...h], [1, 0, 0, 0, 0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1]);
  assert.throws(() => encodeBlkHeader(VIRTIO_BLK_T_IN, -1n), RangeError);
});

Deno.test("blk: status byte decoded, undefined values refused", () => {
  assert.equal(decodeBlkStatus(0), "ok");
  assert.equal(decodeBlkStatus(1), "ioerr");
  assert.equal(decodeBlkStatus(2), "unsupp");
  assert.throws(() => decodeBlkStatus(0xff), /status byte 255/);
});

Deno.test("blk: GET_ID serial cut at NUL, full 20 bytes without NUL kept", () => {
  const id = new TextEncoder().encode("lab-disk\0garbage");
  assert.equal(decodeBlkId(id), "lab-disk");
  assert.equal(decodeBlkId(new TextEncoder().encode("A".repeat(24))), "A".repeat(20));
  assert.equal(decodeBlkId(new Uint8Array([0x41, 0x07, 0x42])), "A?B");
});

Deno.test("blk: limits honour only negotiated features and refuse nonsense", () => {
  const raw = { capacitySectors: 2048n, sizeMax: 4096, segMax: 2, blkSize: 4096, numQueues: 4 };
  const none = blkLimits(0n, raw);
  assert.equal(none.blockBytes, 512);
  assert.equal(none.sizeMax, undefined);
  assert.equal(none.numQueues, 1);
  assert.equal(none.capacityBytes, 2048n * 512n);
  const f = bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_SIZE_MAX) | bit(VIRTIO_BLK_F_SEG_MAX) |
    bit(VIRTIO_BLK_F_MQ);
  const all = blkLimits(f, raw);
  assert.equal(all.blockBytes, 4096);
  assert.equal(all.sizeMax, 4096);
  assert.equal(all.segMax, 2);
  assert.equal(all.numQueues, 4);
  assert.throws(() => blkLimits(f, { ...raw, blkSize: 1000 }), /blk_size 1000/);
  assert.throws(() => blkLimits(f, { ...raw, numQueues: 0 }), /num_queues 0/);
  assert.throws(() => blkLimits(f, { ...raw, segMax: 0 }), /seg_max 0/);
  assert.throws(() => blkLimits(f, { ...raw, sizeMax: 12 }), /size_max 12/);
});

Deno.test("blk: requests checked against RO, FLUSH, seg_max, size_max, 512-multiples", () => {
  const raw = { capacitySectors: 2048n, sizeMax: 4096, segMax: 2 };
  const rw = blkLimits(bit(VIRTIO_BLK_F_SIZE_MAX) | bit(VIRTIO_BLK_F_SEG_MAX), raw);
  assert.equal(checkBlkRequest(rw, VIRTIO_BLK_T_OUT, 8192, 2), undefined);
  assert.match(checkBlkRequest(rw, VIRTIO_BLK_T_OUT, 8192, 1)!, /size_max/);
  assert.match(checkBlkRequest(rw, VIRTIO_BLK_T_IN, 1536, 3)!, /seg_max/);
  assert.match(checkBlkRequest(rw, VIRTIO_BLK_T_IN, 100, 1)!, /multiple of 512/);
  assert.match(checkBlkRequest(rw, VIRTIO_BLK_T_FLUSH, 0, 0)!, /FLUSH/);
  const ro = blkLimits(bit(VIRTIO_BLK_F_RO) | bit(VIRTIO_BLK_F_FLUSH), raw);
  assert.match(checkBlkRequest(ro, VIRTIO_BLK_T_OUT, 512, 1)!, /read-only/);
  assert.equal(checkBlkRequest(ro, VIRTIO_BLK_T_IN, 512, 1), undefined);
  assert.equal(checkBlkRequest(ro, VIRTIO_BLK_T_FLUSH, 0, 0), undefined);
});

Deno.test("blk pattern: crc32c matches the standard check value", () => {
  assert.equal(crc32c(new TextEncoder().encode("123456789")), 0xe3069283);
});

Deno.test("blk pattern: round-trips and names the failing sector", () => {
  const b = new Uint8Array(4096);
  fillPattern(b, 7, 123n);
  assert.deepEqual(checkPattern(b, 7, 123n), { ok: true });
  const other = checkPattern(b, 7, 124n);
  assert.equal(other.ok, false);
  assert.equal(!other.ok && other.sector, 124n);
  assert.match(!other.ok ? other.reason : "", /sector 123's data/);
  const seed = checkPattern(b, 8, 123n);
  assert.match(!seed.ok ? seed.reason : "", /another seed/);
  b[100] = b[100]! ^ 1;
  assert.match(checkPattern(b, 7, 123n).ok ? "" : "crc", /crc/);
  assert.deepEqual(checkPattern(new Uint8Array(512), 7, 0n).ok, false);
});
