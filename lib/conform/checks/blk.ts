/**
 * virtio-blk checks (VIRTIO 1.2 §5.2): configuration limits, and requests answered as the
 * spec requires — reads and writes succeed, out-of-range sectors and writes to a read-only
 * disk fail with IOERR, unknown types and flags with UNSUPP. A write only ever touches the
 * last sector, whose contents are read first and written back.
 *
 * @module
 */
import { type Check, expect, fail, hex, pass } from "../check.ts";
import { type ConformContext, deviceCfg, needsFeature } from "../context.ts";
import { exchange, startSession } from "../session.ts";
import {
  encodeBlkHeader,
  VIRTIO_BLK_T_DISCARD,
  VIRTIO_BLK_T_FLUSH,
  VIRTIO_BLK_T_GET_ID,
  VIRTIO_BLK_T_IN,
  VIRTIO_BLK_T_OUT,
  VIRTIO_BLK_T_WRITE_ZEROES,
} from "../../blk/protocol.ts";
import {
  VIRTIO_BLK_F_BLK_SIZE,
  VIRTIO_BLK_F_DISCARD,
  VIRTIO_BLK_F_FLUSH,
  VIRTIO_BLK_F_RO,
  VIRTIO_BLK_F_SEG_MAX,
  VIRTIO_BLK_F_WRITE_ZEROES,
} from "../../virtio/features.ts";
import type { RawConfig } from "../../virtio/transport.ts";

const STATUS = ["OK", "IOERR", "UNSUPP"];
const name = (s: number) => STATUS[s] ?? hex(s);
const cfg = <T>(ctx: ConformContext, f: (c: RawConfig) => T): T =>
  ctx.transport.deviceConfig.consistent(f);
const capacity = (ctx: ConformContext) => cfg(ctx, (c) => c.read64(0));

const blkWith = (bit?: bigint, label?: string) => (ctx: ConformContext) => {
  if (ctx.deviceType !== 2) return "not a block device";
  return bit === undefined ? true : needsFeature(ctx, bit, label!);
};
const writable = (ctx: ConformContext) => {
  const b = blkWith()(ctx);
  if (b !== true) return b;
  return needsFeature(ctx, VIRTIO_BLK_F_RO, "RO") === true ? "read-only disk" : true;
};

/** One request: header, optional data out, `inLen` data bytes in, the status byte. */
function request(
  ctx: ConformContext,
  want: bigint,
  type: number,
  sector: bigint,
  out: Uint8Array = new Uint8Array(0),
  inLen = 0,
): { status: number; data: Uint8Array; len: number } {
  const s = startSession(ctx, { queues: [0], want });
  const hdr = encodeBlkHeader(type, sector);
  const [u] = exchange(ctx, s.queue(0), [{
    out: out.length ? [hdr, out] : [hdr],
    inLens: inLen ? [inLen, 1] : [1],
  }]);
  const st = u!.in[u!.in.length - 1]![0]!;
  ctx.transport.reset();
  return { status: st, data: inLen ? u!.in[0]! : new Uint8Array(0), len: u!.len };
}

/** A discard / write-zeroes segment (§5.2.6): sector, num_sectors, flags. */
function segment(sector: bigint, flags: number): Uint8Array {
  const b = new Uint8Array(16);
  const v = new DataView(b.buffer);
  v.setBigUint64(0, sector, true);
  v.setUint32(8, 1, true);
  v.setUint32(12, flags, true);
  return b;
}

/** Runs `f` on the last sector and writes its old contents back afterwards (if it can). */
function onLastSector<T>(ctx: ConformContext, f: (sector: bigint) => T): T {
  const last = capacity(ctx) - 1n;
  const saved = request(ctx, 0n, VIRTIO_BLK_T_IN, last, undefined, 512);
  try {
    return f(last);
  } finally {
    if (saved.status === 0 && writable(ctx) === true) {
      request(ctx, 0n, VIRTIO_BLK_T_OUT, last, saved.data.slice());
    }
  }
}

function flagCheck(
  id: string,
  type: number,
  bit: bigint,
  label: string,
  flags: number,
  what: string,
): Check {
  return {
    id,
    section: "5.2.6.1",
    requirement: `${what} is answered UNSUPP`,
    applies: blkWith(bit, label),
    run: (ctx) =>
      onLastSector(ctx, (last) => {
        const r = request(ctx, 1n << bit, type, 0n, segment(last, flags));
        return expect(r.status === 2, name(r.status), "UNSUPP");
      }),
  };
}

export const BLK_CHECKS: readonly Check[] = [
  {
    id: "blk.blk-size.pow2",
    section: "5.2.4",
    requirement: "with BLK_SIZE offered, blk_size is a power of 2 of at least 512",
    applies: blkWith(VIRTIO_BLK_F_BLK_SIZE, "BLK_SIZE"),
    run: (ctx) => {
      const b = cfg(ctx, (c) => c.read32(20));
      return expect(b >= 512 && (b & (b - 1)) === 0, String(b), "512, 1024, 2048 ...");
    },
  },
  {
    id: "blk.seg-max.nonzero",
    section: "5.2.4",
    requirement: "with SEG_MAX offered, seg_max allows at least one data segment",
    applies: blkWith(VIRTIO_BLK_F_SEG_MAX, "SEG_MAX"),
    run: (ctx) => {
      const s = cfg(ctx, (c) => c.read32(12));
      return expect(s >= 1, String(s), ">= 1");
    },
  },
  {
    id: "blk.discard.limits",
    section: "5.2.4",
    requirement: "with DISCARD offered, max_discard_sectors and max_discard_seg are non-zero",
    applies: blkWith(VIRTIO_BLK_F_DISCARD, "DISCARD"),
    run: (ctx) => {
      const [s, n] = cfg(ctx, (c) => [c.read32(36), c.read32(40)]);
      return expect(s! > 0 && n! > 0, `${s} sectors, ${n} segments`, "both > 0");
    },
  },
  {
    id: "blk.write-zeroes.limits",
    section: "5.2.4",
    requirement:
      "with WRITE_ZEROES offered, max_write_zeroes_sectors and max_write_zeroes_seg are non-zero",
    applies: blkWith(VIRTIO_BLK_F_WRITE_ZEROES, "WRITE_ZEROES"),
    run: (ctx) => {
      const [s, n] = cfg(ctx, (c) => [c.read32(48), c.read32(52)]);
      return expect(s! > 0 && n! > 0, `${s} sectors, ${n} segments`, "both > 0");
    },
  },
  {
    id: "blk.read",
    section: "5.2.6",
    requirement: "a read of sector 0 completes with status OK",
    applies: blkWith(),
    run: (ctx) => {
      const r = request(ctx, 0n, VIRTIO_BLK_T_IN, 0n, undefined, 512);
      return expect(r.status === 0, name(r.status), "OK");
    },
  },
  {
    id: "blk.status.defined",
    section: "5.2.6",
    requirement: "the status byte is one of OK (0), IOERR (1) or UNSUPP (2)",
    applies: blkWith(),
    run: (ctx) => {
      const r = request(ctx, 0n, VIRTIO_BLK_T_IN, 0n, undefined, 512);
      return expect(r.status <= 2, hex(r.status), "0, 1 or 2");
    },
  },
  {
    id: "blk.write-read",
    section: "5.2.6",
    requirement: "data written to a sector is what a later read of it returns",
    applies: writable,
    run: (ctx) =>
      onLastSector(ctx, (last) => {
        const data = new Uint8Array(512).map((_, i) => (i * 7 + 3) & 0xff);
        const w = request(ctx, 0n, VIRTIO_BLK_T_OUT, last, data);
        if (w.status !== 0) return fail(`write ${name(w.status)}`, "OK");
        const r = request(ctx, 0n, VIRTIO_BLK_T_IN, last, undefined, 512);
        const same = r.status === 0 && r.data.every((b, i) => b === data[i]);
        return expect(
          same,
          same ? "same bytes" : `read ${name(r.status)}, bytes differ`,
          "same bytes",
        );
      }),
  },
  {
    id: "blk.flush",
    section: "5.2.6",
    requirement: "with FLUSH negotiated, a flush completes with status OK",
    applies: blkWith(VIRTIO_BLK_F_FLUSH, "FLUSH"),
    run: (ctx) => {
      const r = request(ctx, 1n << VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_T_FLUSH, 0n);
      return expect(r.status === 0, name(r.status), "OK");
    },
  },
  {
    id: "blk.out-of-range",
    section: "5.2.6.1",
    requirement: "a read beyond capacity fails with IOERR, not success",
    applies: blkWith(),
    run: (ctx) => {
      const r = request(ctx, 0n, VIRTIO_BLK_T_IN, capacity(ctx), undefined, 512);
      return expect(r.status === 1, name(r.status), "IOERR");
    },
  },
  {
    id: "blk.ro.write-rejected",
    section: "5.2.6.1",
    requirement: "with RO offered, a write fails with IOERR and the data is not changed",
    applies: blkWith(VIRTIO_BLK_F_RO, "RO"),
    run: (ctx) => {
      const before = request(ctx, 0n, VIRTIO_BLK_T_IN, 0n, undefined, 512).data.slice();
      const w = request(ctx, 0n, VIRTIO_BLK_T_OUT, 0n, before.map((b) => b ^ 0xff));
      const after = request(ctx, 0n, VIRTIO_BLK_T_IN, 0n, undefined, 512).data;
      const same = after.every((b, i) => b === before[i]);
      return expect(
        w.status === 1 && same,
        `write ${name(w.status)}, data ${same ? "kept" : "changed"}`,
        "IOERR, data kept",
      );
    },
  },
  {
    id: "blk.unknown-type",
    section: "5.2.6.1",
    requirement: "a request of an unknown type is answered UNSUPP",
    applies: blkWith(),
    run: (ctx) => {
      const r = request(ctx, 0n, 0x7f, 0n);
      return expect(r.status === 2, name(r.status), "UNSUPP");
    },
  },
  {
    id: "blk.get-id",
    section: "5.2.6",
    requirement: "GET_ID answers OK with at most 20 id bytes (or UNSUPP), never IOERR",
    applies: blkWith(),
    run: (ctx) => {
      const r = request(ctx, 0n, VIRTIO_BLK_T_GET_ID, 0n, undefined, 20);
      if (r.status === 2) return pass("UNSUPP");
      return expect(
        r.status === 0 && r.len <= 21,
        `${name(r.status)}, len ${r.len}`,
        "OK, len <= 21",
      );
    },
  },
  {
    id: "blk.config.read-only",
    section: "5.2.4",
    requirement: "capacity is read-only: a driver write to it does not change it",
    applies: (ctx) => {
      const b = blkWith()(ctx);
      if (b !== true) return b;
      return ctx.transport.kind === "modern" && deviceCfg(ctx) ? true : "legacy interface";
    },
    run: (ctx) => {
      const cfg = deviceCfg(ctx)!;
      const before = cfg.read8(0);
      cfg.write8(0, before ^ 0x01);
      const after = cfg.read8(0);
      if (after !== before) cfg.write8(0, before); // put it back
      return expect(
        after === before,
        `capacity byte 0 ${hex(before)} -> ${hex(after)}`,
        "unchanged",
      );
    },
  },
  flagCheck(
    "blk.discard.unmap-flag",
    VIRTIO_BLK_T_DISCARD,
    VIRTIO_BLK_F_DISCARD,
    "DISCARD",
    1,
    "a discard with the unmap flag set",
  ),
  flagCheck(
    "blk.discard.unknown-flag",
    VIRTIO_BLK_T_DISCARD,
    VIRTIO_BLK_F_DISCARD,
    "DISCARD",
    2,
    "a discard with an unknown flag set",
  ),
  flagCheck(
    "blk.write-zeroes.unknown-flag",
    VIRTIO_BLK_T_WRITE_ZEROES,
    VIRTIO_BLK_F_WRITE_ZEROES,
    "WRITE_ZEROES",
    2,
    "a write-zeroes with an unknown flag set",
  ),
];
