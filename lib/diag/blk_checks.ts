/**
 * The virtio-blk checks of `virtio diag --active` (§5.2): the driver starts and the config
 * it validates is sane, the first and the last block read OK, a read past the end is the
 * device's IOERR (not data, not a hang), and FLUSH is accepted when offered. Nothing is
 * written to the disk: reads and a FLUSH only.
 *
 * @module
 */
import { VirtioBlk } from "../blk/virtio_blk.ts";
import { flushOnce, readOnce, type ReadResult } from "../blk/read_blocks.ts";
import { check, type CheckResult } from "./report.ts";
import type { DmaAllocator } from "../dma/memory.ts";
import type { Transport } from "../virtio/transport.ts";

/** The names {@link blkChecks} reports, in order. */
export const BLK_CHECK_NAMES = [
  "blk.config",
  "blk.read-first",
  "blk.read-last",
  "blk.bounds",
  "blk.flush",
] as const;

const why = (e: unknown) => e instanceof Error ? e.message : String(e);

function status(r: ReadResult): string {
  return r.status === "ok"
    ? "OK"
    : `${r.status.toUpperCase()}${"detail" in r && r.detail ? ` (${r.detail})` : ""}`;
}

/** Runs the blk checks on a device in our hands; resets it at the end. */
export function blkChecks(
  dev: { readonly transport: Transport; readonly dma: DmaAllocator },
  o: { timeoutMs?: number; tick?: () => void } = {},
): CheckResult[] {
  const once = { timeoutMs: o.timeoutMs ?? 3000, ...(o.tick ? { tick: o.tick } : {}) };
  let blk: VirtioBlk;
  try {
    // blkLimits (inside open) refuses an implausible capacity and a blk_size that is not a
    // power of two from 512 up (§5.2.4), so a device that gets past here has a sane config.
    blk = VirtioBlk.open(dev.transport, dev.dma, { depth: 1 });
  } catch (e) {
    dev.transport.reset();
    return [
      check.fail("blk.config", `driver did not start: ${why(e)}`),
      ...BLK_CHECK_NAMES.slice(1).map((n) => check.skip(n, "driver did not start")),
    ];
  }
  const results: CheckResult[] = [];
  try {
    const l = blk.limits;
    const sectors = Number(l.capacitySectors);
    const block = l.blockBytes / 512;
    const facts = [
      `capacity ${sectors} sectors (${(Number(l.capacityBytes) / 2 ** 20).toFixed(1)} MiB)`,
      `block ${l.blockBytes} B`,
      ...(l.segMax !== undefined ? [`seg_max ${l.segMax}`] : []),
      ...(l.sizeMax !== undefined ? [`size_max ${l.sizeMax}`] : []),
      `${l.numQueues} queue${l.numQueues === 1 ? "" : "s"}`,
      ...(l.readOnly ? ["read-only"] : []),
    ].join(", ");
    results.push(
      sectors < block
        ? check.fail("blk.config", `${facts}: smaller than one block`)
        : check.pass("blk.config", facts),
    );
    const q = blk.queues[0]!;
    const first = readOnce(q, dev.dma, 0, l.blockBytes, once);
    results.push(
      first.status === "ok"
        ? check.pass("blk.read-first", `sector 0 (${l.blockBytes} B) read OK`)
        : check.fail("blk.read-first", `sector 0: ${status(first)}`),
    );
    const lastSector = Math.floor(sectors / block) * block - block;
    const last = readOnce(q, dev.dma, lastSector, l.blockBytes, once);
    results.push(
      last.status === "ok"
        ? check.pass("blk.read-last", `last block (sector ${lastSector}) read OK`)
        : check.fail("blk.read-last", `sector ${lastSector}: ${status(last)}`),
    );
    // §5.2.6: a request the device cannot serve ends with VIRTIO_BLK_S_IOERR — a read past
    // the end must not succeed (and must not return data).
    const past = readOnce(q, dev.dma, sectors, l.blockBytes, once);
    results.push(
      past.status === "ioerr"
        ? check.pass("blk.bounds", `a read at sector ${sectors} (the end) answered IOERR`)
        : check.fail(
          "blk.bounds",
          `a read at sector ${sectors} (past the end) answered ${status(past)}, not IOERR`,
        ),
    );
    if (!l.flush) results.push(check.skip("blk.flush", "VIRTIO_BLK_F_FLUSH not offered"));
    else {
      const f = flushOnce(q, dev.dma, once);
      results.push(
        f.status === "ok"
          ? check.pass("blk.flush", "FLUSH accepted")
          : check.fail("blk.flush", `FLUSH answered ${status(f)}`),
      );
    }
  } catch (e) {
    const done = new Set(results.map((r) => r.name));
    for (const n of BLK_CHECK_NAMES) {
      if (!done.has(n)) {
        results.push(check.fail(n, why(e)));
        break;
      }
    }
    const failed = new Set(results.map((r) => r.name));
    for (const n of BLK_CHECK_NAMES) {
      if (!failed.has(n)) results.push(check.skip(n, "an earlier check failed"));
    }
  } finally {
    dev.transport.reset();
  }
  return results;
}
