/**
 * Address and port ranges for many flows: each header field (MAC, IPv4/IPv6 address, UDP
 * port) is a single value or a range walked stepwise (`inc`) or at random. A
 * {@link FieldCursor} yields the next value as a plain number, allocation-free, so the frame
 * writer patches it per packet.
 *
 * CLI spec forms (kernel pktgen's src_min/src_max + IPSRC_RND, in one string):
 * `VALUE`, `FIRST-LAST` (stepped), `FIRST-LAST,inc`, `FIRST-LAST,random`, and for ports
 * also `random` alone (1024-65535 at random).
 *
 * IPv6 ranges vary only the low 32 bits: both ends must share the first 96 bits.
 *
 * @module
 */
import { UsageError } from "../errors.ts";

/** How a field changes from packet to packet. */
export type RangeMode = "fixed" | "inc" | "random";

/** What kind of header field a range is for; decides how values are parsed and printed. */
export type FieldKind = "mac" | "ipv4" | "ipv6" | "port";

/** A field's values: `count` consecutive numbers from `min`, in `mode` order. */
export interface FieldRange {
  /** Which header field the range is for. */
  readonly kind: FieldKind;
  /** First value: 48-bit MAC, u32 IPv4, low 32 bits of an IPv6 address, or u16 port. */
  readonly min: number;
  /** How many values (1 for a fixed field). */
  readonly count: number;
  /** How the value changes per packet. */
  readonly mode: RangeMode;
  /** IPv6 only: the fixed first 12 bytes of every address. */
  readonly high?: Uint8Array;
}

const MAX_OF: Record<FieldKind, number> = {
  mac: 2 ** 48 - 1,
  ipv4: 2 ** 32 - 1,
  ipv6: 2 ** 32 - 1,
  port: 0xffff,
};

/** Parses a MAC address `aa:bb:cc:dd:ee:ff` (or with `-`) into a 48-bit number. */
export function parseMac(text: string): number {
  const parts = text.trim().split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new UsageError(`'${text}' is not a MAC address (expected aa:bb:cc:dd:ee:ff)`);
  }
  return parts.reduce((acc, p) => acc * 256 + parseInt(p, 16), 0);
}

/** Formats a 48-bit number as `aa:bb:cc:dd:ee:ff`. */
export function formatMac(mac: number): string {
  const out: string[] = [];
  for (let i = 5; i >= 0; i--) {
    out.push((Math.floor(mac / 2 ** (8 * i)) & 0xff).toString(16).padStart(2, "0"));
  }
  return out.join(":");
}

/** Parses a dotted-quad IPv4 address into a u32. */
export function parseIPv4(text: string): number {
  const parts = text.trim().split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) {
    throw new UsageError(`'${text}' is not an IPv4 address`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

/** Formats a u32 as a dotted quad. */
export function formatIPv4(ip: number): string {
  return [ip >>> 24, (ip >>> 16) & 0xff, (ip >>> 8) & 0xff, ip & 0xff].join(".");
}

/** Parses an IPv6 address (RFC 4291 §2.2 text forms 1 and 2) into 16 bytes. */
export function parseIPv6(text: string): Uint8Array {
  const t = text.trim();
  const bad = () => new UsageError(`'${text}' is not an IPv6 address`);
  const halves = t.split("::");
  if (halves.length > 2) throw bad();
  const groups = (s: string) => (s === "" ? [] : s.split(":"));
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) throw bad();
  const all = [...head, ...Array<string>(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) throw bad();
    const v = parseInt(g, 16);
    out[2 * i] = v >>> 8;
    out[2 * i + 1] = v & 0xff;
  });
  return out;
}

/** Formats 16 bytes as an IPv6 address, with the longest run of zero groups as `::`. */
export function formatIPv6(bytes: Uint8Array): string {
  const g = Array.from({ length: 8 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let best = -1, bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = (a: number[]) => a.map((v) => v.toString(16)).join(":");
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

/** The low 32 bits of an IPv6 address as a u32. */
export function ipv6Low32(bytes: Uint8Array): number {
  return ((bytes[12]! << 24) | (bytes[13]! << 16) | (bytes[14]! << 8) | bytes[15]!) >>> 0;
}

function parseValue(kind: FieldKind, text: string): { value: number; high?: Uint8Array } {
  switch (kind) {
    case "mac":
      return { value: parseMac(text) };
    case "ipv4":
      return { value: parseIPv4(text) };
    case "ipv6": {
      const b = parseIPv6(text);
      return { value: ipv6Low32(b), high: b.slice(0, 12) };
    }
    case "port": {
      const t = text.trim();
      if (!/^\d{1,5}$/.test(t) || Number(t) > 0xffff) {
        throw new UsageError(`'${text}' is not a UDP port (0-65535)`);
      }
      return { value: Number(t) };
    }
  }
}

/** A field that never changes. */
export function fixedRange(kind: FieldKind, value: number, high?: Uint8Array): FieldRange {
  if (!Number.isInteger(value) || value < 0 || value > MAX_OF[kind]) {
    throw new UsageError(`${kind} value ${value} is out of range`);
  }
  return high ? { kind, min: value, count: 1, mode: "fixed", high } : {
    kind,
    min: value,
    count: 1,
    mode: "fixed",
  };
}

/**
 * Parses a CLI range spec for a field of `kind` (see the module doc for the forms).
 * Throws {@link UsageError} with a readable reason on anything else.
 */
export function parseRange(kind: FieldKind, spec: string): FieldRange {
  const [body = "", modeText, ...rest] = spec.trim().split(",");
  if (rest.length > 0) throw new UsageError(`'${spec}': too many ',' parts`);
  if (body === "random" && modeText === undefined) {
    if (kind !== "port") throw new UsageError(`'random' alone is only for ports; give a range`);
    return { kind, min: 1024, count: 65536 - 1024, mode: "random" };
  }
  let mode: RangeMode | undefined;
  if (modeText !== undefined) {
    if (modeText !== "inc" && modeText !== "random") {
      throw new UsageError(`'${spec}': mode must be 'inc' or 'random', got '${modeText}'`);
    }
    mode = modeText;
  }
  const dash = body.indexOf("-", kind === "mac" && /^([0-9a-f]{2}-){5}/i.test(body) ? 17 : 0);
  if (dash < 0) {
    if (mode !== undefined) throw new UsageError(`'${spec}': '${mode}' needs a range FIRST-LAST`);
    const v = parseValue(kind, body);
    return fixedRange(kind, v.value, v.high);
  }
  const first = parseValue(kind, body.slice(0, dash));
  const last = parseValue(kind, body.slice(dash + 1));
  if (first.high && last.high && !first.high.every((b, i) => b === last.high![i])) {
    throw new UsageError(`'${spec}': IPv6 range ends must share the first 96 bits`);
  }
  if (last.value < first.value) throw new UsageError(`'${spec}': range ends are reversed`);
  const count = last.value - first.value + 1;
  const range = { kind, min: first.value, count, mode: count === 1 ? "fixed" : mode ?? "inc" };
  return first.high ? { ...range, high: first.high } as FieldRange : range as FieldRange;
}

/** Formats a range back into its spec form (for summaries and JSON output). */
export function formatRange(r: FieldRange): string {
  const one = (v: number) => {
    switch (r.kind) {
      case "mac":
        return formatMac(v);
      case "ipv4":
        return formatIPv4(v);
      case "port":
        return String(v);
      case "ipv6": {
        const b = new Uint8Array(16);
        b.set(r.high ?? new Uint8Array(12));
        b[12] = v >>> 24, b[13] = v >>> 16, b[14] = v >>> 8, b[15] = v;
        return formatIPv6(b);
      }
    }
  };
  if (r.count === 1) return one(r.min);
  return `${one(r.min)}-${one(r.min + r.count - 1)},${r.mode}`;
}

/**
 * Walks a {@link FieldRange}: `next()` returns the value for the next packet, with no
 * allocation. Random mode uses xorshift32 from a seed, so runs are reproducible.
 */
export class FieldCursor {
  #index = 0;
  #state: number;
  readonly #seed: number;
  /** First value of the range. */
  readonly min: number;
  /** Number of values. */
  readonly count: number;
  /** How the value changes per packet. */
  readonly mode: RangeMode;

  /** A cursor at the range's first value; `seed` drives random mode. */
  constructor(range: FieldRange, seed = 0x9e3779b9) {
    this.min = range.min;
    this.count = range.count;
    this.mode = range.mode;
    this.#seed = (seed >>> 0) || 1;
    this.#state = this.#seed;
  }

  /** Back to the first packet's value: the index at the range start, the random state at the seed. */
  rewind(): void {
    this.#index = 0;
    this.#state = this.#seed;
  }

  /** True when the value can differ between packets. */
  get varies(): boolean {
    return this.count > 1;
  }

  /** The next packet's value. */
  next(): number {
    return this.min + this.nextOffset();
  }

  /**
   * The next packet's value as an offset from `min`. The hot path uses this: offsets of
   * ranges below 2^30 values stay small integers, while whole values (48-bit MACs, IPv4
   * addresses above 64.0.0.0) are doubles that V8 boxes — allocates — when one is
   * returned from a call.
   */
  nextOffset(): number {
    if (this.mode === "inc") {
      const v = this.#index;
      if (++this.#index === this.count) this.#index = 0;
      return v;
    }
    if (this.mode === "random") {
      let x = this.#state;
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      this.#state = x;
      // Scale the 32-bit draw into [0, count): exact in doubles, no modulo bias worth naming.
      return Math.floor(((x >>> 0) / 4294967296) * this.count);
    }
    return 0;
  }
}
