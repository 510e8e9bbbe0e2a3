/**
 * Builds pktgen frames into caller-provided buffers (DMA memory) at an offset.
 *
 * The hot path is template + patch: {@link FrameWriter.prefill} writes a whole max-size
 * frame into each TX buffer once; per packet {@link FrameWriter.write} rewrites only what
 * changes — lengths, varying addresses/ports, sequence number, timestamp — and both
 * checksums. The checksums are recomputed from parts in O(1): the sums of the constant
 * header words and of every prefix of the fill pattern are precomputed, so a 1518-byte
 * frame costs the same as a 64-byte one. Nothing is allocated per packet.
 *
 * Sizes passed in are wire sizes, FCS included (see sizes.ts): 64 → 60 bytes in the buffer.
 *
 * @module
 */
import { UsageError } from "../errors.ts";
import { finishChecksum, finishUdpChecksum, putU16, putU32, sumBytes } from "./checksum.ts";
import { FieldCursor, type FieldRange } from "./flows.ts";
import {
  ETH_HEADER,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  IPPROTO_UDP,
  IPV4_DF,
  minFrameBytes,
  PAYLOAD_FLOW,
  PAYLOAD_HEADER,
  PAYLOAD_MAGIC,
  PAYLOAD_SEQ,
  PAYLOAD_TIMESTAMP,
  payloadOffset,
  udpOffset,
} from "./layout.ts";
import { bufferBytes, wireSize } from "./sizes.ts";

/** What every frame of a run looks like. */
export interface FrameConfig {
  /** IPv4 or IPv6 frames. */
  readonly ipVersion: 4 | 6;
  /** Source MAC range. */
  readonly srcMac: FieldRange;
  /** Destination MAC range. */
  readonly dstMac: FieldRange;
  /** `ipv4` ranges for ipVersion 4, `ipv6` ranges for 6. */
  readonly srcIp: FieldRange;
  /** Destination IP range. */
  readonly dstIp: FieldRange;
  /** Source UDP port range. */
  readonly srcPort: FieldRange;
  /** Destination UDP port range. */
  readonly dstPort: FieldRange;
  /** IPv4 TTL / IPv6 hop limit. Default 64. */
  readonly ttl?: number;
  /** Written into every payload header; the receiver keeps sequence state per flow id. */
  readonly flowId?: number;
  /** Largest wire size that will be asked for (sizes the template). */
  readonly maxWireSize: number;
  /** Fill byte after the payload header; default: the byte's own index & 0xff. */
  readonly fillByte?: number;
  /** Seed for random ranges (each field derives its own). */
  readonly seed?: number;
  /**
   * Write the tx timestamp into each payload (default true). Only a receiver sharing the
   * sender's clock can use it (loopback latency); without it the field stays 0 and each
   * frame costs two stores less.
   */
  readonly stampTime?: boolean;
}

const TWO32 = 4294967296;

/** A big-endian 16-bit value as a little-endian CPU must store it through a Uint16Array. */
function swap16(v: number): number {
  return ((v & 0xff) << 8) | (v >>> 8);
}

/** Writes 48-bit `mac` at `off`. */
function putMac(buf: Uint8Array, off: number, mac: number): void {
  putU16(buf, off, Math.floor(mac / TWO32));
  putU32(buf, off + 2, mac >>> 0);
}

/** Template + patch frame writer for one flow configuration (one per TX stream). */
export class FrameWriter {
  /** IP version of the frames. */
  readonly ipVersion: 4 | 6;
  /** Smallest wire size this writer can build (headers + payload header + FCS). */
  readonly minWireSize: number;
  /** Largest wire size the template was built for. */
  readonly maxWireSize: number;
  /** The complete max-size frame; `prefill` copies it. */
  readonly template: Uint8Array;

  readonly #srcMac: FieldCursor;
  readonly #dstMac: FieldCursor;
  readonly #srcIp: FieldCursor;
  readonly #dstIp: FieldCursor;
  readonly #srcPort: FieldCursor;
  readonly #dstPort: FieldCursor;
  readonly #udp: number;
  readonly #payload: number;
  /** Unfolded sum of IPv4 header words that never change (IPv4 only). */
  readonly #ipConstSum: number;
  /** Unfolded sum of UDP checksum words that never change (pseudo-header parts, magic, flow). */
  readonly #udpConstSum: number;
  /** patternSum[k]: unfolded sum of the first k fill bytes (they start at an even offset). */
  readonly #patternSum: Float64Array;
  readonly #views: (Uint8Array | undefined)[] = [];
  /** No address or port varies: every header field but the lengths is the template's. */
  readonly #fixedFlow: boolean;
  readonly #stampTime: boolean;
  // Fixed-flow cache, per wire size: lengths, IPv4 checksum, the UDP sum without seq/time.
  #cSize = -1;
  #cLen = 0;
  #cUdpLen = 0;
  #cIpCsum = 0;
  #cUdpSum = 0; // with the cached timestamp's words
  #cSum0 = 0; // without them
  // Per timestamp (one clock reading serves a whole batch): its words and their sum.
  #cTs = -1;
  #cTsHi = 0;
  #cTsLo = 0;
  #cTsSum = 0;

  /** Builds the max-size template; throws UsageError when the ranges do not match the IP version or maxWireSize is too small. */
  constructor(c: FrameConfig) {
    const v = c.ipVersion;
    const ipKind = v === 4 ? "ipv4" : "ipv6";
    if (c.srcIp.kind !== ipKind || c.dstIp.kind !== ipKind) {
      throw new UsageError(`IPv${v} frames need ${ipKind} addresses`);
    }
    this.ipVersion = v;
    this.#stampTime = c.stampTime ?? true;
    this.#udp = udpOffset(v);
    this.#payload = payloadOffset(v);
    this.minWireSize = wireSize(minFrameBytes(v));
    if (c.maxWireSize < this.minWireSize) {
      throw new UsageError(`IPv${v} frames need at least ${this.minWireSize} bytes`);
    }
    this.maxWireSize = c.maxWireSize;
    const seed = c.seed ?? 1;
    this.#srcMac = new FieldCursor(c.srcMac, seed * 7 + 1);
    this.#dstMac = new FieldCursor(c.dstMac, seed * 7 + 2);
    this.#srcIp = new FieldCursor(c.srcIp, seed * 7 + 3);
    this.#dstIp = new FieldCursor(c.dstIp, seed * 7 + 4);
    this.#srcPort = new FieldCursor(c.srcPort, seed * 7 + 5);
    this.#dstPort = new FieldCursor(c.dstPort, seed * 7 + 6);
    this.#fixedFlow = ![this.#srcMac, this.#dstMac, this.#srcIp, this.#dstIp, this.#srcPort]
      .concat(this.#dstPort).some((f) => f.varies);

    const t = new Uint8Array(bufferBytes(c.maxWireSize));
    this.template = t;
    const ttl = c.ttl ?? 64;
    putMac(t, 0, c.dstMac.min);
    putMac(t, 6, c.srcMac.min);
    const ip = ETH_HEADER;
    if (v === 4) {
      putU16(t, 12, ETHERTYPE_IPV4);
      t[ip] = 0x45; // version 4, IHL 5 words (RFC 791 §3.1)
      putU16(t, ip + 6, IPV4_DF); // identification 0 is fine for atomic datagrams (RFC 6864)
      t[ip + 8] = ttl;
      t[ip + 9] = IPPROTO_UDP;
      putU32(t, ip + 12, c.srcIp.min);
      putU32(t, ip + 16, c.dstIp.min);
      this.#ipConstSum = 0x4500 + IPV4_DF + ((ttl << 8) | IPPROTO_UDP);
    } else {
      putU16(t, 12, ETHERTYPE_IPV6);
      t[ip] = 0x60; // version 6, traffic class 0, flow label 0 (RFC 8200 §3)
      t[ip + 6] = IPPROTO_UDP;
      t[ip + 7] = ttl;
      t.set(c.srcIp.high ?? new Uint8Array(12), ip + 8);
      putU32(t, ip + 20, c.srcIp.min);
      t.set(c.dstIp.high ?? new Uint8Array(12), ip + 24);
      putU32(t, ip + 36, c.dstIp.min);
      this.#ipConstSum = 0;
    }
    putU16(t, this.#udp, c.srcPort.min);
    putU16(t, this.#udp + 2, c.dstPort.min);
    const p = this.#payload;
    putU32(t, p, PAYLOAD_MAGIC);
    putU16(t, p + PAYLOAD_FLOW, c.flowId ?? 0);
    const fill = p + PAYLOAD_HEADER;
    for (let i = fill; i < t.length; i++) t[i] = c.fillByte ?? i & 0xff;

    // UDP checksum parts that never change (RFC 768 pseudo-header; RFC 8200 §8.1 for IPv6):
    // the protocol number, the fixed high 96 bits of IPv6 addresses, magic and flow id.
    let constSum = IPPROTO_UDP + sumBytes(t, p, 4) + sumBytes(t, p + PAYLOAD_FLOW, 2);
    if (v === 6) constSum += sumBytes(t, ip + 8, 12) + sumBytes(t, ip + 24, 12);
    this.#udpConstSum = constSum;
    const patternLen = t.length - fill;
    this.#patternSum = new Float64Array(patternLen + 1);
    for (let k = 1; k <= patternLen; k++) {
      const b = t[fill + k - 1]!;
      // Byte k-1 is a high byte when k-1 is even (the pattern starts on the word grid).
      this.#patternSum[k] = this.#patternSum[k - 1]! + ((k - 1) & 1 ? b : b << 8);
    }
  }

  /**
   * Writes the whole max-size template at `off`; do this once per TX buffer. With
   * `wireSize`, also sets the lengths and IPv4 checksum for that size, so {@link stamp} can
   * finish each frame.
   */
  prefill(buf: Uint8Array, off: number, wireSize?: number): void {
    buf.set(this.template, off);
    if (wireSize !== undefined) this.write(buf, off, wireSize, 0, 0);
  }

  /**
   * Back to the first frame's flow: every address and port cursor starts over (random ones
   * at their seeds), so the next frame written is the one a new writer would write. The
   * JIT warm-up writes with the stream's own writer and rewinds it after.
   */
  rewind(): void {
    this.#srcMac.rewind();
    this.#dstMac.rewind();
    this.#srcIp.rewind();
    this.#dstIp.rewind();
    this.#srcPort.rewind();
    this.#dstPort.rewind();
  }

  /** True when no address or port varies: every frame of one size differs only in its payload stamp. */
  get fixedFlow(): boolean {
    return this.#fixedFlow;
  }

  /**
   * The per-packet minimum for a fixed flow of one size: writes the sequence number (and the
   * timestamp with stampTime) and the UDP checksum into a frame that {@link prefill} (with
   * `wireSize`) or {@link write} already made a `wireSize`-byte frame of this writer.
   * `words` views the memory holding the frame as 16-bit words and `off` is the frame's byte
   * offset in it, which must be even: every field then falls on a word, and a field is one
   * or two stores instead of two or four byte stores (under TCG each store counts: 4.3 → 4.8
   * Mpps; a DataView was slower than bytes). Returns the buffer length. Throws RangeError for
   * a varying flow, a size other than the last one written, or an odd offset.
   */
  stamp(words: Uint16Array, off: number, wireSize: number, seq: number, txNs: number): number {
    if (!this.#fixedFlow || wireSize !== this.#cSize || (off & 1) !== 0) {
      throw new RangeError("stamp needs a fixed flow, the size last written and an even offset");
    }
    const sq = seq >>> 0;
    const hi = sq >>> 16, lo = sq & 0xffff;
    const p = (off + this.#payload) >>> 1;
    words[p + PAYLOAD_SEQ / 2] = swap16(hi);
    words[p + PAYLOAD_SEQ / 2 + 1] = swap16(lo);
    if (this.#stampTime) {
      if (txNs !== this.#cTs) this.#cacheTime(txNs);
      const t = p + PAYLOAD_TIMESTAMP / 2;
      words[t] = swap16(this.#cTsHi >>> 16);
      words[t + 1] = swap16(this.#cTsHi & 0xffff);
      words[t + 2] = swap16(this.#cTsLo >>> 16);
      words[t + 3] = swap16(this.#cTsLo & 0xffff);
    }
    words[(off + this.#udp + 6) >>> 1] = swap16(finishUdpChecksum(this.#cUdpSum + hi + lo));
    return this.#cLen;
  }

  /**
   * {@link stamp} for a batch: frames `n` slots of `ring` from index `first` (wrapping at its
   * end), slot s's frame at byte `s * stride + hdr` of `words`, with sequence numbers from
   * `seq` on. Returns the next sequence number. The checks run once per batch and the loop
   * keeps the offsets and the cached sum in locals: under TCG a call and its checks per
   * frame cost more than the frame's three stores (packed 1518 B transmit 2.6 → 4.7 Mpps
   * together with the used-length change in pollSlots, same boot). With stampTime every frame
   * gets `txNs`, through stamp. Throws RangeError as stamp does, or for an odd stride/hdr.
   */
  stampRun(
    words: Uint16Array,
    ring: Uint32Array,
    first: number,
    n: number,
    stride: number,
    hdr: number,
    wireSize: number,
    seq: number,
    txNs: number,
  ): number {
    if (!this.#fixedFlow || wireSize !== this.#cSize || ((stride | hdr) & 1) !== 0) {
      throw new RangeError("stampRun needs a fixed flow, the size last written and even offsets");
    }
    const cap = ring.length;
    let j = first, sq = seq >>> 0;
    const base = this.#cUdpSum;
    if (this.#stampTime || base > 0x7fffffff) {
      // Timestamps (loopback latency), or a sum the two-step fold below cannot take.
      for (let k = 0; k < n; k++) {
        this.stamp(words, ring[j]! * stride + hdr, wireSize, sq, txNs);
        if (++j === cap) j = 0;
        sq = (sq + 1) >>> 0;
      }
      return sq;
    }
    const seqAt = (hdr + this.#payload + PAYLOAD_SEQ) >>> 1;
    const csumAt = (hdr + this.#udp + 6) >>> 1;
    const strideWords = stride >>> 1;
    for (let k = 0; k < n; k++) {
      const w = ring[j]! * strideWords;
      if (++j === cap) j = 0;
      const hi = sq >>> 16, lo = sq & 0xffff;
      words[w + seqAt] = swap16(hi);
      words[w + seqAt + 1] = swap16(lo);
      // RFC 768 / RFC 1071: fold the sum (below 2^31 + 2^17) twice, complement, 0 → 0xffff:
      // finishUdpChecksum inline, without foldSum's range test and loop (calling it here
      // measured 14.1 → 16.6 ns per packed 1518 B frame on the host).
      let sum = base + hi + lo;
      sum = (sum & 0xffff) + (sum >>> 16);
      sum = (sum & 0xffff) + (sum >>> 16);
      const c = ~sum & 0xffff;
      words[w + csumAt] = swap16(c === 0 ? 0xffff : c);
      sq = (sq + 1) >>> 0;
    }
    return sq;
  }

  /**
   * Patches the frame at `off` (a buffer prefilled by this writer) into the next packet:
   * `wireSize` bytes on the wire (FCS included), sequence number `seq` (u32, wraps) and tx
   * timestamp `txNs` (integer ns, below 2^53; ignored without stampTime). Advances the flow cursors. Returns the buffer
   * length. `wireSize` must lie in [minWireSize, maxWireSize] (RangeError otherwise).
   */
  write(buf: Uint8Array, off: number, wireSize: number, seq: number, txNs: number): number {
    if (this.#fixedFlow) {
      // One flow: only the lengths, IPv4 checksum (both per size), sequence number, timestamp
      // (per batch) and UDP checksum change, and the sums of the rest are cached.
      if (wireSize !== this.#cSize) this.#cacheSize(wireSize);
      if (txNs !== this.#cTs && this.#stampTime) this.#cacheTime(txNs);
      const ip = off + ETH_HEADER;
      const udp = off + this.#udp;
      const udpLen = this.#cUdpLen;
      if (this.ipVersion === 4) {
        putU16(buf, ip + 2, this.#cLen - ETH_HEADER);
        putU16(buf, ip + 10, this.#cIpCsum);
      } else putU16(buf, ip + 4, udpLen);
      putU16(buf, udp + 4, udpLen);
      const p = off + this.#payload;
      const sq = seq >>> 0;
      putU32(buf, p + PAYLOAD_SEQ, sq);
      if (this.#stampTime) {
        putU32(buf, p + PAYLOAD_TIMESTAMP, this.#cTsHi);
        putU32(buf, p + PAYLOAD_TIMESTAMP + 4, this.#cTsLo);
      }
      putU16(buf, udp + 6, finishUdpChecksum(this.#cUdpSum + (sq >>> 16) + (sq & 0xffff)));
      return this.#cLen;
    }
    return this.#writeAny(buf, off, wireSize, seq, txNs);
  }

  /** Fills the per-size cache of the fixed-flow path (RangeError for a size out of range). */
  #cacheSize(wireSize: number): void {
    if (!(wireSize >= this.minWireSize && wireSize <= this.maxWireSize)) {
      throw new RangeError(
        `wire size ${wireSize} outside ${this.minWireSize}..${this.maxWireSize}`,
      );
    }
    const len = wireSize - 4;
    const udpLen = len - this.#udp;
    const src = this.#srcIp.min, dst = this.#dstIp.min;
    const ipSum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
    this.#cIpCsum = this.ipVersion === 4
      ? finishChecksum(this.#ipConstSum + (len - ETH_HEADER) + ipSum)
      : 0;
    // The UDP sum of everything but seq and timestamp (see #writeAny for the parts).
    this.#cUdpSum = this.#udpConstSum + ipSum + 2 * udpLen + this.#srcPort.min +
      this.#dstPort.min + this.#patternSum[udpLen - 8 - PAYLOAD_HEADER]! + this.#cTsSum;
    this.#cSum0 = this.#cUdpSum - this.#cTsSum;
    this.#cLen = len;
    this.#cUdpLen = udpLen;
    this.#cSize = wireSize;
  }

  #cacheTime(txNs: number): void {
    const tsHi = Math.floor(txNs / TWO32) >>> 0;
    const tsLo = txNs >>> 0;
    this.#cTsHi = tsHi;
    this.#cTsLo = tsLo;
    this.#cTsSum = (tsHi >>> 16) + (tsHi & 0xffff) + (tsLo >>> 16) + (tsLo & 0xffff);
    this.#cUdpSum = this.#cSum0 + this.#cTsSum;
    this.#cTs = txNs;
  }

  /** The general path: any field may vary. */
  #writeAny(buf: Uint8Array, off: number, wireSize: number, seq: number, txNs: number): number {
    if (!(wireSize >= this.minWireSize && wireSize <= this.maxWireSize)) {
      throw new RangeError(
        `wire size ${wireSize} outside ${this.minWireSize}..${this.maxWireSize}`,
      );
    }
    const len = wireSize - 4;
    const udp = off + this.#udp;
    const udpLen = len - this.#udp;
    // Cursors hand out offsets from each range's first value (see FieldCursor.nextOffset).
    if (this.#srcMac.varies) putMac(buf, off + 6, this.#srcMac.min + this.#srcMac.nextOffset());
    if (this.#dstMac.varies) putMac(buf, off, this.#dstMac.min + this.#dstMac.nextOffset());
    const src = this.#srcIp.min + this.#srcIp.nextOffset();
    const dst = this.#dstIp.min + this.#dstIp.nextOffset();
    // Address words: shared by the IPv4 header checksum and the UDP pseudo-header.
    const ipSum = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff);
    const ip = off + ETH_HEADER;
    if (this.ipVersion === 4) {
      if (this.#srcIp.varies) putU32(buf, ip + 12, src);
      if (this.#dstIp.varies) putU32(buf, ip + 16, dst);
      const total = len - ETH_HEADER;
      putU16(buf, ip + 2, total);
      // RFC 791 §3.1 header checksum over the 10 header words, field taken as 0.
      putU16(buf, ip + 10, finishChecksum(this.#ipConstSum + total + ipSum));
    } else {
      if (this.#srcIp.varies) putU32(buf, ip + 20, src);
      if (this.#dstIp.varies) putU32(buf, ip + 36, dst);
      putU16(buf, ip + 4, udpLen); // payload length = everything after the IPv6 header
    }

    const sp = this.#srcPort.min + this.#srcPort.nextOffset();
    const dp = this.#dstPort.min + this.#dstPort.nextOffset();
    if (this.#srcPort.varies) putU16(buf, udp, sp);
    if (this.#dstPort.varies) putU16(buf, udp + 2, dp);
    putU16(buf, udp + 4, udpLen);

    const p = off + this.#payload;
    const sq = seq >>> 0;
    const tsHi = this.#stampTime ? Math.floor(txNs / TWO32) >>> 0 : 0;
    const tsLo = this.#stampTime ? txNs >>> 0 : 0;
    putU32(buf, p + PAYLOAD_SEQ, sq);
    putU32(buf, p + PAYLOAD_TIMESTAMP, tsHi);
    putU32(buf, p + PAYLOAD_TIMESTAMP + 4, tsLo);

    // UDP length appears twice: in the pseudo-header and in the UDP header.
    const sum = this.#udpConstSum + ipSum + 2 * udpLen + sp + dp +
      (sq >>> 16) + (sq & 0xffff) + (tsHi >>> 16) + (tsHi & 0xffff) +
      (tsLo >>> 16) + (tsLo & 0xffff) + this.#patternSum[udpLen - 8 - PAYLOAD_HEADER]!;
    putU16(buf, udp + 6, finishUdpChecksum(sum));
    return len;
  }

  /** Copies the template for `wireSize` and patches it: for buffers not prefilled. */
  writeFull(buf: Uint8Array, off: number, wireSize: number, seq: number, txNs: number): number {
    // Out of range: let `write` throw before anything is copied.
    if (!(wireSize >= this.minWireSize && wireSize <= this.maxWireSize)) {
      return this.write(buf, off, wireSize, seq, txNs);
    }
    // One template view per distinct size, made on first use: a memcpy, no allocation after.
    const view = this.#views[wireSize] ??= this.template.subarray(0, wireSize - 4);
    buf.set(view, off);
    return this.write(buf, off, wireSize, seq, txNs);
  }
}
