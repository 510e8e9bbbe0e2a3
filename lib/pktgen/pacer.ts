/**
 * Rate limiting for the transmit loop: a token bucket refilled from an injectable monotonic
 * clock (ns), consumed in batches. The loop asks {@link Pacer.grant} how many packets of a
 * batch it may send now, sends them, and reports what it sent with {@link Pacer.spend}; when
 * nothing is granted, {@link Pacer.waitNs} says how long until the next packet is due.
 * Only waits longer than {@link SLEEP_THRESHOLD_NS} are worth a `setTimeout` (its
 * granularity is about a millisecond); shorter ones are spent reaping completions.
 *
 * Bit rates count wire bytes including FCS (see sizes.ts): 64-byte frames at 1 Mpps are
 * 512 Mbit/s.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** A target rate: packets per second or bits per second. */
export interface Rate {
  /** Packets per second or bits per second. */
  readonly unit: "pps" | "bps";
  /** The rate in that unit. */
  readonly value: number;
}

/** A monotonic clock in nanoseconds (tests pass a fake). */
export type Clock = () => number;

/** The real clock: `performance.now()` in ns. */
export const monotonicNs: Clock = (): number => Math.round(performance.now() * 1e6);

/** Waits shorter than this (1 ms) are not worth a timer. */
export const SLEEP_THRESHOLD_NS = 1_000_000;

const SI: Record<string, number> = { "": 1, k: 1e3, m: 1e6, g: 1e9, t: 1e12 };

/**
 * Parses a rate: a number with an optional SI prefix (k, M, G, T) and unit. No unit or
 * `pps` means packets/s (`1M`, `500kpps`); `bit`, `bit/s`, `bps`, `b/s` mean bits/s
 * (`1Gbit`, `100Mbps`); `B/s`, `Bps` mean bytes/s, converted to bits.
 */
export function parseRate(text: string): Rate {
  const m = /^\s*(\d+(?:\.\d+)?(?:e\d+)?)\s*([kKmMgGtT]?)([a-zA-Z/]*)\s*$/.exec(text);
  const bad = () =>
    new UsageError(`rate '${text}' is not understood: use e.g. 1M, 500kpps, 1Gbit, 100Mbps`);
  if (!m) throw bad();
  const n = Number(m[1]) * SI[m[2]!.toLowerCase()]!;
  const unit = m[3]!;
  let rate: Rate;
  if (unit === "" || /^(pps|p\/s)$/i.test(unit)) rate = { unit: "pps", value: n };
  else if (/^(bit|bits|bit\/s|bps|b\/s)$/.test(unit) || /^(Bit|Bits)(\/s)?$/.test(unit)) {
    rate = { unit: "bps", value: n };
  } else if (/^(B\/s|Bps)$/.test(unit)) rate = { unit: "bps", value: n * 8 };
  else throw bad();
  if (!Number.isFinite(rate.value) || rate.value <= 0) throw bad();
  return rate;
}

/** Formats a rate for summaries: `1.00 Mpps`, `100 Mbit/s`. */
export function formatRateSpec(rate: Rate): string {
  const v = rate.value;
  const [d, p] = v >= 1e9 ? [1e9, "G"] : v >= 1e6 ? [1e6, "M"] : v >= 1e3 ? [1e3, "k"] : [1, ""];
  return `${+(v / d).toPrecision(4)} ${p}${rate.unit === "pps" ? "pps" : "bit/s"}`;
}

/** Token bucket over a clock. With no rate it grants everything at once. */
export class Pacer {
  readonly #perNs: number;
  readonly #bits: boolean;
  readonly #capacity: number;
  readonly #clock: Clock;
  #tokens = 0;
  #last: number;

  /**
   * A token bucket for `rate`, starting empty at the clock's current time.
   *
   * @param rate target rate, or undefined for "as fast as possible".
   * @param clock monotonic ns clock.
   * @param burstNs how much unused time the bucket may save up (default 2 ms): the
   *   largest burst after a stall, and what a late wake-up can catch up on.
   */
  constructor(readonly rate: Rate | undefined, clock: Clock = monotonicNs, burstNs = 2e6) {
    this.#clock = clock;
    this.#last = clock();
    this.#perNs = rate ? rate.value / 1e9 : Infinity;
    this.#bits = rate?.unit === "bps";
    this.#capacity = rate ? Math.max(this.#perNs * burstNs, this.#bits ? 12_144 : 1) : 0;
  }

  #refill(): void {
    const now = this.#clock();
    const t = this.#tokens + (now - this.#last) * this.#perNs;
    this.#tokens = t > this.#capacity ? this.#capacity : t;
    this.#last = now;
  }

  /**
   * How many packets (at most `max`) may go now; `bitsPerPacket` is the expected wire bits
   * per packet (used in bit/s mode only). Granting does not consume: call `spend`.
   */
  grant(max: number, bitsPerPacket: number): number {
    if (this.rate === undefined) return max;
    this.#refill();
    const unit = this.#bits ? bitsPerPacket : 1;
    const n = Math.floor(this.#tokens / unit);
    return n < max ? (n > 0 ? n : 0) : max;
  }

  /** Records what was sent. The bucket may go briefly negative; that debt is repaid. */
  spend(packets: number, bits: number): void {
    if (this.rate !== undefined) this.#tokens -= this.#bits ? bits : packets;
  }

  /** Ns until one packet of `bitsPerPacket` may go (0 if it may go now). */
  waitNs(bitsPerPacket: number): number {
    if (this.rate === undefined) return 0;
    this.#refill();
    const need = (this.#bits ? bitsPerPacket : 1) - this.#tokens;
    return need <= 0 ? 0 : Math.ceil(need / this.#perNs);
  }
}
