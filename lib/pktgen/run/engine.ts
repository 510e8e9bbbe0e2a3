/**
 * The pktgen loop: transmit streams and receive queues driven from one poll loop.
 *
 * Per turn: one clock reading; per transmit queue one batch — reclaim only when fewer than
 * a batch of slots are free (lazily, always after the previous flush), patch each frame in
 * place (the slots were prefilled with the template once), one `flush` (the queue notifies
 * only when the device asks, §2.7.10 / §2.8.10); per receive queue one `poll`, validate,
 * recycle, one `refill` (a publish once an eighth of the ring is recycled). Nothing is allocated and no FFI call is made per packet.
 *
 * Every few ms the loop yields to the event loop so SIGINT/SIGTERM (the abort signal) are
 * seen. Once per interval it takes a snapshot, checks each device's status (0xff = gone,
 * DEVICE_NEEDS_RESET, §2.1.1) and link (§5.1.4), and reports. A transmit queue that frees no
 * slot for `stallS` seconds stops the run with a clear error instead of hanging.
 *
 * @module
 */
import { DeviceError, VirtioError } from "../../errors.ts";
import type { RxQueue, TxQueue } from "../../net/packet_queues.ts";
import type { FrameWriter } from "../frame.ts";
import { type Clock, Pacer, type Rate, SLEEP_THRESHOLD_NS } from "../pacer.ts";
import type { PcapWriter } from "../pcap.ts";
import type { SizeSequence } from "../sizes.ts";
import { type IntervalSnapshot, RunStats, type RunSummary } from "../stats.ts";
import { parseFrame, ReceivedFrame, RxStatus } from "../validate.ts";

/** One transmit stream: a queue, its frame writer and sizes, its next sequence number. */
export interface TxStream {
  readonly queue: TxQueue;
  readonly writer: FrameWriter;
  readonly sizes: SizeSequence;
  /**
   * The writer has a fixed flow, the sizes are one size, and every slot was prefilled for it
   * (`prefill(frame, 0, size)`): the loop only stamps each frame.
   */
  readonly oneSize?: boolean;
  seq: number;
}

/** What the loop needs to know about a device besides its queues. */
export interface WatchedDevice {
  readonly name: string;
  /** Throws (DeviceError) when the device is gone or broken. */
  checkStatus(): void;
  linkUp(): boolean;
}

export interface EngineSpec {
  readonly tx: readonly TxStream[];
  readonly rx: readonly RxQueue[];
  /** Packets to send (tx streams present) or valid frames to receive (rx only). */
  readonly count?: number;
  readonly durationS?: number;
  readonly rate?: Rate;
  readonly batch: number;
  readonly intervalS: number;
  readonly stallS: number;
  /** Check checksums of every received frame; otherwise one in 16. */
  readonly verifyAll: boolean;
  /** Receiver and sender share this clock (loopback): record latency. */
  readonly latency: boolean;
  /** After transmit ends, receive until this many ms pass without a frame (loopback). */
  readonly drainMs?: number;
  readonly pcap?: PcapWriter;
  readonly devices: readonly WatchedDevice[];
  readonly signal: AbortSignal;
  readonly clock: Clock;
  readonly sleep: (ms: number) => Promise<void>;
  /** Lets the event loop run (signals); default `sleep(0)`. */
  readonly yieldNow?: () => Promise<void>;
  /** Called once per loop turn (a simulated device does its work here). */
  readonly tick?: () => void;
  /** Each interval's snapshot; `progress` 0..1 for bounded runs, else undefined. */
  readonly onInterval?: (snap: IntervalSnapshot, progress: number | undefined) => void;
  /** Link changes and other events worth a line on stderr. */
  readonly onEvent?: (message: string) => void;
}

/** Why the loop stopped: count reached, duration over, aborted by a signal, or an error. */
export type StopReason = "count" | "duration" | "signal" | "error";

/** A link state change seen during the run. */
export interface LinkEvent {
  /** Seconds since the start of the run. */
  t: number;
  /** PCI address of the device. */
  device: string;
  /** Whether the link is up now. */
  up: boolean;
}

/** What the send/receive loop did. */
export interface EngineResult {
  /** The run's totals and rates. */
  summary: RunSummary;
  /** Frames handed to the device. */
  sent: number;
  /** Why the loop stopped. */
  stopReason: StopReason;
  /** The error message when `stopReason` is "error". */
  error?: string;
  /** One snapshot per interval (plus the last partial one when it is long enough). */
  snapshots: IntervalSnapshot[];
  /** Link changes seen during the run. */
  linkEvents: LinkEvent[];
  /** Longest time between two loop turns (ns). */
  maxPauseNs: number;
  /**
   * Time in gaps of more than {@link PAUSE_NS} from one loop turn's start to the next, summed
   * (ns), not counting the sleeps the pacer asked for. Once the JIT has warmed up a turn takes
   * microseconds, so this is how long the loop did not poll: its yields, GC, a vCPU the host did
   * not run. In the first seconds it also holds the slow turns of code not yet optimized and
   * V8's compiler threads taking the loop's CPU.
   */
  pausedNs: number;
}

/**
 * How often the loop yields to the event loop (signals, timers): a Ctrl-C is seen within
 * about this long. A yield is not free (a 0-ms timer took ~10 ms in the TCG lab guest, so
 * yielding every few ms halved the rate).
 */
const YIELD_NS = 50e6;
/**
 * Pacer burst: unused send time it may bank. Longer than a yield, so the time spent away
 * is caught up and the long-run rate holds.
 */
export const PACER_BURST_NS = 250e6;
/** Largest sleep while waiting for the pacer, so receive queues are still served. */
const MAX_PACE_SLEEP_MS = 1;
/** A gap between two loop turns longer than this counts in `pausedNs`. */
export const PAUSE_NS = 1e6;

export async function runEngine(spec: EngineSpec): Promise<EngineResult> {
  const { tx, rx, batch, clock } = spec;
  const start = clock();
  const stats = new RunStats(start);
  const pacer = spec.rate ? new Pacer(spec.rate, clock, PACER_BURST_NS) : undefined;
  const meanBits = tx.length > 0 ? (tx.reduce((a, s) => a + s.sizes.mean, 0) / tx.length) * 8 : 0;
  const intervalNs = spec.intervalS * 1e9;
  const deadline = spec.durationS !== undefined ? start + spec.durationS * 1e9 : Infinity;
  const stallNs = spec.stallS * 1e9;
  const count = spec.count;
  const txMode = tx.length > 0;
  const rxLimit = !txMode && count !== undefined ? count : Infinity;
  const slots = new Uint32Array(rx.reduce((m, q) => Math.max(m, q.queue.size), 1));
  const frame = new ReceivedFrame();
  const snapshots: IntervalSnapshot[] = [];
  const linkEvents: LinkEvent[] = [];
  const links = spec.devices.map((d) => d.linkUp());
  let nextInterval = start + intervalNs;
  let nextYield = start + YIELD_NS;
  let sent = 0;
  let received = 0;
  let verifyTick = 0;
  let txDone = !txMode;
  let blockedSince = 0;
  let lastRxNs = start;
  let stopReason: StopReason = "count";
  let lastTurn = start, maxGap = 0, paused = 0;
  // The end of the last pacer sleep: pausedNs counts a gap from there, not from lastTurn.
  let pacedUntil = 0;
  let txFirst = 0;
  let error: string | undefined;

  const progress = (now: number): number | undefined => {
    const byCount = count !== undefined ? (txMode ? sent : received) / count : 0;
    const byTime = spec.durationS !== undefined ? (now - start) / (spec.durationS * 1e9) : 0;
    if (count === undefined && spec.durationS === undefined) return undefined;
    return Math.min(1, Math.max(byCount, byTime));
  };
  const checkDevices = (now: number) => {
    for (let i = 0; i < spec.devices.length; i++) {
      const d = spec.devices[i]!;
      d.checkStatus();
      const up = d.linkUp();
      if (up !== links[i]) {
        links[i] = up;
        linkEvents.push({ t: (now - start) / 1e9, device: d.name, up });
        spec.onEvent?.(`${d.name}: link ${up ? "up" : "down"}`);
      }
    }
  };

  for (const s of tx) {
    if (s.oneSize) s.queue.lengths.fill(s.queue.headerSize + s.sizes.min - 4);
  }

  try {
    for (;;) {
      if (spec.signal.aborted) {
        stopReason = "signal";
        break;
      }
      let now = clock();
      // The longest the loop went without a turn (yields, GC, a busy host): when it exceeds
      // the pacer's bank, the asked rate could not hold and the summary says so.
      const sinceTurn = now - lastTurn;
      if (sinceTurn > maxGap) maxGap = sinceTurn;
      const gap = pacedUntil > lastTurn ? now - pacedUntil : sinceTurn;
      if (gap > PAUSE_NS) paused += gap;
      lastTurn = now;
      let busy = false;

      // Transmit: one batch per stream.
      if (!txDone) {
        if (now >= deadline) {
          txDone = true;
          stopReason = "duration";
        } else if (count !== undefined && sent >= count) {
          txDone = true;
          stopReason = "count";
        }
        if (txDone) lastRxNs = now; // the drain period starts now
      }
      if (!txDone) {
        let blocked = true;
        // Each turn starts at the next stream, so a pacer's or a count's last grant of a turn
        // does not always go short on the same queue.
        if (++txFirst === tx.length) txFirst = 0;
        for (let t = 0; t < tx.length; t++) {
          const s = tx[t + txFirst < tx.length ? t + txFirst : t + txFirst - tx.length]!;
          const q = s.queue;
          // Lazy reclaim: only when a batch no longer fits (the last flush is behind us).
          if (q.freeSlots < batch) q.reclaim();
          let n = q.freeSlots < batch ? q.freeSlots : batch;
          if (n > 0) blocked = false;
          if (count !== undefined && n > count - sent) n = count - sent;
          if (pacer !== undefined && n > 0) {
            n = pacer.grant(n, meanBits);
          }
          if (n <= 0) continue;
          const frames = q.frames, writer = s.writer, sizes = s.sizes;
          const ring = q.freeRing, lengths = q.lengths, hdr = q.headerSize;
          const first = q.take(n);
          let bytes = 0, seq = s.seq, j = first;
          if (s.oneSize) {
            // Fixed flow, one size: the slots were prefilled for it; per frame the stamp only.
            // Their lengths in the queue were set at the start.
            const size = sizes.min;
            seq = writer.stampRun(q.words, ring, j, n, q.slotSize, hdr, size, seq, now);
            bytes = size * n;
          } else {
            for (let k = 0; k < n; k++) {
              const slot = ring[j]!;
              if (++j === ring.length) j = 0;
              const size = sizes.next();
              const len = writer.write(frames[slot]!, 0, size, seq, now);
              lengths[slot] = hdr + len;
              seq = (seq + 1) >>> 0;
              bytes += size;
            }
          }
          s.seq = seq;
          q.sendTaken(first, n, bytes - 4 * n);
          q.flush();
          sent += n;
          stats.countTx(n, bytes);
          pacer?.spend(n, bytes * 8);
          busy = true;
        }
        if (blocked) {
          if (blockedSince === 0) blockedSince = now;
          else if (now - blockedSince > stallNs) {
            checkDevices(now);
            const down = spec.devices.filter((_, i) => !links[i]).map((d) => d.name);
            throw new DeviceError(
              `transmit stalled: the device took no frame for ${spec.stallS} s` +
                (down.length ? ` (link down on ${down.join(", ")})` : "") +
                ` — is the VM paused, the device unplugged or nothing on the wire receiving?`,
            );
          }
        } else blockedSince = 0;
      }

      spec.tick?.();

      // Receive: everything each queue has, one flush per queue.
      for (let i = 0; i < rx.length; i++) {
        const q = rx[i]!;
        const n = q.poll(slots);
        if (n === 0) continue;
        busy = true;
        now = clock();
        lastRxNs = now;
        const frames = q.frames, lengths = q.frameLengths;
        for (let k = 0; k < n; k++) {
          const slot = slots[k]!;
          if (rxLimit !== Infinity && received >= rxLimit) {
            q.recycle(slot); // beyond --count: give the buffer back uncounted
            continue;
          }
          const buf = frames[slot]!;
          const len = lengths[slot]!;
          spec.pcap?.write(buf, 0, len, now);
          const verify = spec.verifyAll || (++verifyTick & 15) === 0;
          const st = parseFrame(buf, 0, len, frame, verify);
          if (st === RxStatus.OK) {
            stats.countRx(len + 4, frame.flowId, frame.seq, spec.latency ? frame.txNs : NaN, now);
            received++;
          } else stats.countRxError(st);
          q.recycle(slot);
        }
        q.refill(); // publishes in batches of refillBatch (one index store, ≤ 1 kick each)
      }

      // End of run.
      if (txMode && txDone) {
        const drainNs = (spec.drainMs ?? 0) * 1e6;
        if (rx.length === 0 || received >= sent || now - lastRxNs > drainNs) break;
      }
      if (!txMode) {
        if (count !== undefined && received >= count) {
          stopReason = "count";
          break;
        }
        if (now >= deadline) {
          stopReason = "duration";
          break;
        }
      }

      if (now >= nextInterval) {
        checkDevices(now);
        const snap = stats.snapshot(now, paused);
        snapshots.push(snap);
        spec.onInterval?.(snap, progress(now));
        nextInterval += intervalNs;
        if (nextInterval < now) nextInterval = now + intervalNs;
      }
      if (now >= nextYield) {
        await (spec.yieldNow ? spec.yieldNow() : spec.sleep(0));
        nextYield = clock() + YIELD_NS;
      } else if (!busy && pacer !== undefined && !txDone) {
        const wait = pacer.waitNs(meanBits);
        if (wait > SLEEP_THRESHOLD_NS) {
          await spec.sleep(MAX_PACE_SLEEP_MS);
          pacedUntil = clock();
        }
      }
    }
  } catch (e) {
    if (!(e instanceof VirtioError)) throw e;
    stopReason = "error";
    error = e.message;
  }
  const end = clock();
  const last = stats.snapshot(end, paused);
  if (last.dt >= spec.intervalS / 4) snapshots.push(last);
  return {
    summary: stats.summary(end, txMode && rx.length > 0 ? sent : undefined),
    sent,
    stopReason,
    maxPauseNs: maxGap,
    pausedNs: paused,
    ...(error !== undefined ? { error } : {}),
    snapshots,
    linkEvents,
  };
}
