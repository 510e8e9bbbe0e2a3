/**
 * The per-frame device-work table of the rates bench: for each direction/NIC/size/tool, what
 * a frame cost QEMU (its main-loop and vCPU threads' CPU time over the runs' kept windows,
 * divided by the frames of those windows), the doorbells and interrupts QEMU saw per 1000
 * frames (its trace, with `--trace`), and for our pktgen its own queue counters (publishes
 * and notifications per 1000 frames over the whole run).
 *
 * @module
 */
import type { RateRecord } from "./guest/parse.ts";
import type { QemuWindow } from "./qemu_work.ts";

/** One row of the table. */
export interface PerFrame {
  direction: string;
  nic: string;
  size: number;
  tool: string;
  /** Frames per second over the windows (mean of their kept samples). */
  pps: number;
  /** Frames the windows covered (wall time × rate). */
  frames: number;
  /** QEMU main-loop thread CPU µs per frame. */
  mainUs: number;
  /** QEMU vCPU threads' CPU µs per frame (the guest's own work included). */
  vcpuUs: number;
  /** Share of the windows' wall time QEMU's main loop spent runnable but not running. */
  mainWaitShare: number;
  /** Doorbell writes QEMU handled per 1000 frames (trace), the NIC's data queue. */
  notifyPerK?: number;
  /** Interrupts QEMU raised per 1000 frames (trace), that NIC. */
  irqPerK?: number;
  /** Ours: avail publishes per 1000 frames (its queue counters, whole run). */
  ownPublishPerK?: number;
  /** Ours: notifications per 1000 frames (its queue counters, whole run). */
  ownNotifyPerK?: number;
}

const keyOf = (r: RateRecord) => `${r.direction}|${r.tool}|${r.nic}|${r.size}|${r.round ?? 1}`;

/**
 * The busiest NIC in a window's trace for the direction's data queue (tx: queue 1, rx:
 * queue 0; in a receive run the source kicks only its transmit queue, so the busiest rx
 * doorbell is the receiver's).
 */
function traced(w: QemuWindow, direction: string): { notify: number; irq: number } | undefined {
  if (!w.trace) return undefined;
  const q = direction === "tx" ? "1" : "0";
  let best: { notify: number; irq: number } | undefined;
  for (const v of Object.values(w.trace)) {
    const n = v.notify[q] ?? 0;
    if (direction === "rx" && (v.notify["1"] ?? 0) > n) continue; // the source
    if (!best || n > best.notify) best = { notify: n, irq: v.interrupts };
  }
  return best ?? { notify: 0, irq: 0 };
}

/** Rows per direction/NIC/size/tool over all rounds with a window. */
export function perFrameOf(records: readonly RateRecord[], windows: readonly QemuWindow[]) {
  const rows = new Map<
    string,
    PerFrame & { wall: number; main: number; vcpu: number; mainWait: number }
  >();
  const traces = new Map<string, { notify: number; irq: number; frames: number }>();
  const own = new Map<string, { publishes: number; notifications: number; frames: number }>();
  for (const r of records) {
    if (r.pps === null) continue;
    const w = windows.find((x) => x.key === keyOf(r));
    const cell = `${r.direction}|${r.nic}|${r.size}|${r.tool}`;
    if (r.doorbells && r.doorbells.frames > 0) {
      const o = own.get(cell) ?? { publishes: 0, notifications: 0, frames: 0 };
      o.publishes += r.doorbells.publishes;
      o.notifications += r.doorbells.notifications;
      o.frames += r.doorbells.frames;
      own.set(cell, o);
    }
    if (!w || !(w.wallS > 0)) continue;
    const kept = r.samples.slice(r.warmup ?? 0);
    if (kept.length === 0) continue;
    const rate = kept.reduce((a, b) => a + b, 0) / kept.length;
    const frames = rate * w.wallS;
    const row = rows.get(cell) ?? {
      direction: r.direction,
      nic: r.nic,
      size: r.size,
      tool: r.tool,
      pps: 0,
      frames: 0,
      mainUs: 0,
      vcpuUs: 0,
      mainWaitShare: 0,
      wall: 0,
      main: 0,
      vcpu: 0,
      mainWait: 0,
    };
    row.frames += frames;
    row.wall += w.wallS;
    row.main += w.cpu.main;
    row.vcpu += w.cpu.vcpu;
    row.mainWait += w.cpu.mainWait;
    rows.set(cell, row);
    const t = traced(w, r.direction);
    if (t) {
      const a = traces.get(cell) ?? { notify: 0, irq: 0, frames: 0 };
      a.notify += t.notify;
      a.irq += t.irq;
      a.frames += frames;
      traces.set(cell, a);
    }
  }
  const out: PerFrame[] = [];
  for (const [cell, r] of rows) {
    const t = traces.get(cell), o = own.get(cell);
    out.push({
      direction: r.direction,
      nic: r.nic,
      size: r.size,
      tool: r.tool,
      pps: r.frames / r.wall,
      frames: Math.round(r.frames),
      mainUs: (r.main / r.frames) * 1e6,
      vcpuUs: (r.vcpu / r.frames) * 1e6,
      mainWaitShare: r.mainWait / r.wall,
      ...(t && t.frames > 0
        ? { notifyPerK: (t.notify / t.frames) * 1000, irqPerK: (t.irq / t.frames) * 1000 }
        : {}),
      ...(o
        ? {
          ownPublishPerK: (o.publishes / o.frames) * 1000,
          ownNotifyPerK: (o.notifications / o.frames) * 1000,
        }
        : {}),
    });
  }
  return out;
}

const num = (v: number | undefined, digits: number, width: number) =>
  (v === undefined || !Number.isFinite(v) ? "-" : v.toFixed(digits)).padStart(width);

/** The human table, one line per row; "-" where a figure was not measured. */
export function perFrameText(rows: readonly PerFrame[]): string {
  if (rows.length === 0) return "";
  const lines = [
    "per-frame device work over the kept windows (QEMU's threads' CPU time on the host ÷ frames; " +
    "main wait = share of the time QEMU's main loop was runnable but had no host CPU; " +
    "trace counts with --trace; own = our queue counters, whole run)",
    `${"dir".padEnd(3)} ${"nic".padEnd(11)} ${"size".padStart(5)} ${"tool".padEnd(8)}` +
    `${"Mpps".padStart(7)} ${"main µs/f".padStart(10)} ${"vCPU µs/f".padStart(10)}` +
    `${"main wait".padStart(10)}` +
    `${"notify/1k".padStart(10)} ${"irq/1k".padStart(7)}` +
    `${"own publish/1k".padStart(15)} ${"own notify/1k".padStart(14)}`,
  ];
  for (const r of rows) {
    lines.push(
      `${r.direction.padEnd(3)} ${r.nic.padEnd(11)} ${String(r.size).padStart(5)} ` +
        `${r.tool.padEnd(8)}${num(r.pps / 1e6, 3, 7)} ${num(r.mainUs, 3, 10)} ` +
        `${num(r.vcpuUs, 3, 10)}${num(r.mainWaitShare * 100, 0, 9)}%` +
        `${num(r.notifyPerK, 2, 10)} ${num(r.irqPerK, 2, 7)}` +
        `${num(r.ownPublishPerK, 2, 15)} ${num(r.ownNotifyPerK, 2, 14)}`,
    );
  }
  return lines.join("\n");
}
