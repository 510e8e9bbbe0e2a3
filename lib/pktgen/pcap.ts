/**
 * Classic pcap files (the format tshark, tcpdump and Wireshark all open): a 24-byte global
 * header, then per packet a 16-byte record header and the frame bytes. We write
 * LINKTYPE_ETHERNET (1) frames without FCS — what a virtio buffer holds — in little-endian
 * order with µs or ns timestamps (magic 0xa1b2c3d4 / 0xa1b23c4d). Writes go through a
 * buffer and reach the file in large `writeSync` calls; recording a packet is a copy, no
 * allocation.
 *
 * @module
 */

/** Magic of a pcap file with microsecond timestamps. */
export const PCAP_MAGIC_US = 0xa1b2c3d4;
/** Magic of a pcap file with nanosecond timestamps. */
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Link type of Ethernet frames. */
export const LINKTYPE_ETHERNET = 1;
const GLOBAL_HEADER = 24;
const RECORD_HEADER = 16;

/** Where pcap bytes go: a `Deno.FsFile`, or anything with the same `writeSync`. */
export interface ByteSink {
  /** Writes a prefix of `p` and returns its length (the writer calls again for the rest). */
  writeSync(p: Uint8Array): number;
}

/** How `PcapWriter` writes: timestamp resolution, snap length, buffer size, clock origin. */
export interface PcapOptions {
  /** Nanosecond timestamps (default true); false writes the original µs format. */
  nanoseconds?: boolean;
  /** Bytes kept of each frame (default 65535). */
  snaplen?: number;
  /** Buffer size (default 1 MiB). */
  bufferBytes?: number;
  /** Unix time of monotonic 0; default {@link monotonicOrigin}(). */
  origin?: EpochTime;
}

/**
 * A point in Unix time as whole seconds + ns. (Epoch ns are near 2^61, beyond a Number's
 * exact range, so the two parts stay apart.)
 */
export interface EpochTime {
  /** Whole seconds since the Unix epoch. */
  sec: number;
  /** Nanoseconds within the second. */
  ns: number;
}

/** Unix time at which the monotonic clock `performance.now()` (pacer.ts `monotonicNs`) read 0. */
export function monotonicOrigin(): EpochTime {
  const ms = performance.timeOrigin;
  const sec = Math.floor(ms / 1000);
  return { sec, ns: Math.round((ms - sec * 1000) * 1e6) };
}

/** Writes Ethernet frames to a classic pcap file through a buffer; recording allocates nothing. */
export class PcapWriter {
  readonly #sink: ByteSink;
  readonly #buf: Uint8Array;
  readonly #view: DataView;
  readonly #ns: boolean;
  /** Bytes kept of each frame. */
  readonly snaplen: number;
  readonly #originSec: number;
  readonly #originNs: number;
  #used = 0;
  /** Records written so far. */
  packets = 0;

  /** Writes the global header into the buffer; records follow. */
  constructor(sink: ByteSink, options: PcapOptions = {}) {
    this.#sink = sink;
    this.#ns = options.nanoseconds ?? true;
    this.snaplen = options.snaplen ?? 65535;
    const origin = options.origin ?? monotonicOrigin();
    this.#originSec = origin.sec;
    this.#originNs = origin.ns;
    this.#buf = new Uint8Array(Math.max(options.bufferBytes ?? 1 << 20, this.snaplen + 64));
    this.#view = new DataView(this.#buf.buffer);
    const v = this.#view;
    v.setUint32(0, this.#ns ? PCAP_MAGIC_NS : PCAP_MAGIC_US, true);
    v.setUint16(4, 2, true); // version 2.4
    v.setUint16(6, 4, true);
    v.setInt32(8, 0, true); // thiszone: timestamps are UTC
    v.setUint32(12, 0, true); // sigfigs
    v.setUint32(16, this.snaplen, true);
    v.setUint32(20, LINKTYPE_ETHERNET, true);
    this.#used = GLOBAL_HEADER;
  }

  /** Creates (truncates) `path` and writes the global header. */
  static create(path: string, options?: PcapOptions): PcapWriter & Disposable {
    const file = Deno.openSync(path, { write: true, create: true, truncate: true });
    const w = new PcapWriter(file, options) as PcapWriter & Disposable;
    w[Symbol.dispose] = () => {
      try {
        w.flush();
      } finally {
        file.close();
      }
    };
    return w;
  }

  /** Records `len` bytes at `off` of `frame`, seen at `monoNs` on the monotonic clock. */
  write(frame: Uint8Array, off: number, len: number, monoNs: number): void {
    const incl = len < this.snaplen ? len : this.snaplen;
    if (this.#used + RECORD_HEADER + incl > this.#buf.length) this.flush();
    const t = this.#originNs + Math.floor(monoNs);
    const carry = Math.floor(t / 1e9);
    const sec = this.#originSec + carry;
    const sub = t - carry * 1e9;
    const v = this.#view, at = this.#used;
    v.setUint32(at, sec, true);
    v.setUint32(at + 4, this.#ns ? sub : Math.floor(sub / 1000), true);
    v.setUint32(at + 8, incl, true);
    v.setUint32(at + 12, len, true);
    const dst = this.#buf, d = at + RECORD_HEADER;
    for (let i = 0; i < incl; i++) dst[d + i] = frame[off + i]!;
    this.#used = d + incl;
    this.packets++;
  }

  /** Writes everything buffered to the sink. */
  flush(): void {
    let done = 0;
    while (done < this.#used) done += this.#sink.writeSync(this.#buf.subarray(done, this.#used));
    this.#used = 0;
  }
}

/** One record read back. */
export interface PcapRecord {
  /** Timestamp: seconds since the Unix epoch ... */
  sec: number;
  /** ... plus ns (µs files are scaled). */
  ns: number;
  /** Length on the wire as recorded (≥ data.length when truncated by snaplen). */
  origLen: number;
  /** The captured bytes (at most snaplen). */
  data: Uint8Array;
}

/** A parsed pcap file: its header fields and the records. */
export interface PcapFile {
  /** Timestamps are in nanoseconds (else microseconds). */
  nanoseconds: boolean;
  /** The file was written little-endian. */
  littleEndian: boolean;
  /** Bytes kept of each frame. */
  snaplen: number;
  /** Link type (1: Ethernet). */
  linktype: number;
  /** Every record in file order. */
  records: PcapRecord[];
}

/** Parses a classic pcap file of either byte order and timestamp resolution. */
export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.length < GLOBAL_HEADER) throw new Error("pcap: shorter than its header");
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const m = v.getUint32(0, true);
  let le: boolean;
  if (m === PCAP_MAGIC_US || m === PCAP_MAGIC_NS) le = true;
  else {
    le = false;
    const mb = v.getUint32(0, false);
    if (mb !== PCAP_MAGIC_US && mb !== PCAP_MAGIC_NS) {
      throw new Error(`pcap: bad magic 0x${m.toString(16)}`);
    }
  }
  const nanoseconds = v.getUint32(0, le) === PCAP_MAGIC_NS;
  const records: PcapRecord[] = [];
  let at = GLOBAL_HEADER;
  while (at + RECORD_HEADER <= bytes.length) {
    const sec = v.getUint32(at, le), sub = v.getUint32(at + 4, le);
    const incl = v.getUint32(at + 8, le), origLen = v.getUint32(at + 12, le);
    if (at + RECORD_HEADER + incl > bytes.length) throw new Error("pcap: truncated record");
    records.push({
      sec,
      ns: nanoseconds ? sub : sub * 1000,
      origLen,
      data: bytes.slice(at + RECORD_HEADER, at + RECORD_HEADER + incl),
    });
    at += RECORD_HEADER + incl;
  }
  if (at !== bytes.length) throw new Error("pcap: trailing bytes after the last record");
  return {
    nanoseconds,
    littleEndian: le,
    snaplen: v.getUint32(16, le),
    linktype: v.getUint32(20, le),
    records,
  };
}
