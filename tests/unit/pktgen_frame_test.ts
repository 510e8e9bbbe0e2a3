import assert from "node:assert/strict";
import { checksumAdjust, finishChecksum, sumBytes } from "../../lib/pktgen/checksum.ts";
import { FrameWriter } from "../../lib/pktgen/frame.ts";
import { parseRange } from "../../lib/pktgen/flows.ts";
import { parseFrame, ReceivedFrame, RxStatus } from "../../lib/pktgen/validate.ts";

// --- an independent, deliberately naive Internet checksum (RFC 1071) ---------------------
function naiveChecksum(bytes: number[]): number {
  const b = bytes.length % 2 ? [...bytes, 0] : bytes;
  let sum = 0;
  for (let i = 0; i < b.length; i += 2) {
    sum += b[i]! * 256 + b[i + 1]!;
    if (sum > 0xffff) sum = (sum & 0xffff) + 1;
  }
  return 0xffff - sum;
}
const be16 = (b: Uint8Array, o: number) => b[o]! * 256 + b[o + 1]!;
const be32 = (b: Uint8Array, o: number) => be16(b, o) * 65536 + be16(b, o + 2);
const slice = (b: Uint8Array, from: number, to: number) => Array.from(b.subarray(from, to));

function naiveUdpChecksum(frame: Uint8Array, v: 4 | 6): number {
  const udp = v === 4 ? 34 : 54;
  const udpLen = be16(frame, udp + 4);
  const seg = slice(frame, udp, udp + udpLen);
  seg[6] = 0, seg[7] = 0;
  const pseudo = v === 4
    ? [...slice(frame, 26, 34), 0, 17, udpLen >> 8, udpLen & 255]
    : [...slice(frame, 22, 54), 0, 0, udpLen >> 8, udpLen & 255, 0, 0, 0, 17];
  const c = naiveChecksum([...pseudo, ...seg]);
  return c === 0 ? 0xffff : c;
}

function writer4(extra: Partial<Record<string, string>> = {}, maxWireSize = 1518) {
  return new FrameWriter({
    ipVersion: 4,
    srcMac: parseRange("mac", extra.srcMac ?? "02:00:00:00:00:01"),
    dstMac: parseRange("mac", extra.dstMac ?? "02:00:00:00:00:02"),
    srcIp: parseRange("ipv4", extra.srcIp ?? "192.168.0.1"),
    dstIp: parseRange("ipv4", extra.dstIp ?? "192.168.0.199"),
    srcPort: parseRange("port", extra.srcPort ?? "9"),
    dstPort: parseRange("port", extra.dstPort ?? "9"),
    flowId: 3,
    maxWireSize,
  });
}

Deno.test("IPv4 frame bytes, field by field, with a textbook header checksum", () => {
  const w = writer4();
  const buf = new Uint8Array(2048);
  w.prefill(buf, 100);
  // Wire size 133 → 129 buffer bytes → IP total length 115 = 0x73: the header of the
  // well-known example 4500 0073 0000 4000 4011 .... c0a8 0001 c0a8 00c7, checksum b861.
  const len = w.write(buf, 100, 133, 0x01020304, 0x0000_0012_3456_789a);
  assert.equal(len, 129);
  const f = buf.subarray(100, 100 + len);
  assert.deepEqual(slice(f, 0, 6), [2, 0, 0, 0, 0, 2]);
  assert.deepEqual(slice(f, 6, 12), [2, 0, 0, 0, 0, 1]);
  assert.equal(be16(f, 12), 0x0800);
  assert.deepEqual(
    slice(f, 14, 34).map((x) => x.toString(16).padStart(2, "0")).join(""),
    "450000730000400040" + "11b861c0a80001c0a800c7",
  );
  assert.equal(be16(f, 34), 9);
  assert.equal(be16(f, 36), 9);
  assert.equal(be16(f, 38), 129 - 34);
  assert.equal(be32(f, 42), 0x76706b74);
  assert.equal(be32(f, 46), 0x01020304);
  assert.equal(be32(f, 50), 0x12);
  assert.equal(be32(f, 54), 0x3456789a);
  assert.equal(be16(f, 58), 3);
  assert.equal(f[60], 60); // fill byte = its own offset in the frame
  assert.equal(be16(f, 40), naiveUdpChecksum(f, 4));
  assert.equal(buf[99], 0, "nothing written before the offset");
  assert.equal(naiveChecksum(slice(f, 14, 34)), 0, "header verifies to zero");
});

Deno.test("64-byte frames are 60 buffer bytes and both checksums match a naive sum", () => {
  const w = writer4();
  const buf = new Uint8Array(64);
  const len = w.writeFull(buf, 0, 64, 7, 1e15);
  assert.equal(len, 60);
  assert.equal(be16(buf, 16), 46);
  assert.equal(naiveChecksum(slice(buf, 14, 34)), 0);
  assert.equal(be16(buf, 40), naiveUdpChecksum(buf, 4));
  assert.equal(buf[60], 0);
  assert.throws(() => w.write(buf, 0, 63, 0, 0), RangeError);
  assert.throws(() => w.write(buf, 0, 1519, 0, 0), RangeError);
  const before = buf.slice();
  assert.throws(() => w.writeFull(buf, 0, 40, 0, 0), RangeError);
  assert.deepEqual(buf, before, "a rejected size writes nothing");
});

Deno.test("IPv6 frame fields and mandatory UDP checksum", () => {
  const w = new FrameWriter({
    ipVersion: 6,
    srcMac: parseRange("mac", "02:00:00:00:00:01"),
    dstMac: parseRange("mac", "02:00:00:00:00:02"),
    srcIp: parseRange("ipv6", "fd00::1"),
    dstIp: parseRange("ipv6", "fd00::2:0:0:0:9"),
    srcPort: parseRange("port", "1234"),
    dstPort: parseRange("port", "5678"),
    maxWireSize: 1518,
  });
  assert.equal(w.minWireSize, 14 + 40 + 8 + 18 + 4);
  assert.throws(() => w.write(new Uint8Array(100), 0, 64, 0, 0), RangeError);
  const buf = new Uint8Array(1600);
  w.prefill(buf, 0);
  const len = w.write(buf, 0, 200, 42, 5);
  assert.equal(len, 196);
  assert.equal(be16(buf, 12), 0x86dd);
  assert.equal(buf[14], 0x60);
  assert.equal(be16(buf, 18), 196 - 54);
  assert.equal(buf[20], 17);
  assert.equal(buf[21], 64);
  assert.deepEqual(slice(buf, 22, 38), [0xfd, 0, ...Array(13).fill(0), 1]);
  assert.deepEqual(slice(buf, 38, 54), [0xfd, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 9]);
  assert.equal(be16(buf, 54), 1234);
  assert.equal(be16(buf, 56), 5678);
  assert.equal(be16(buf, 58), 196 - 54);
  assert.equal(be16(buf, 60), naiveUdpChecksum(buf, 6));
  assert.notEqual(be16(buf, 60), 0);
  const out = new ReceivedFrame();
  assert.equal(parseFrame(buf, 0, len, out), RxStatus.OK);
  assert.equal(out.ipVersion, 6);
  assert.equal(out.seq, 42);
  assert.equal(out.txNs, 5);
});

Deno.test("varying flows and sizes: every frame's checksums equal a naive recompute", () => {
  const w = writer4({
    srcMac: "02:00:00:00:00:01-02:00:00:00:01:00,random",
    dstIp: "10.0.0.1-10.0.0.100",
    srcIp: "10.1.0.0-10.1.255.255,random",
    srcPort: "1000-2000",
    dstPort: "random",
  });
  const buf = new Uint8Array(4096);
  w.prefill(buf, 1);
  const out = new ReceivedFrame();
  const seen = new Set<number>();
  for (let i = 0; i < 3000; i++) {
    const size = 64 + ((i * 7919) % (1518 - 64 + 1));
    const ts = i * 1234567891 + 2 ** 40;
    const len = w.write(buf, 1, size, 0xfffffff0 + i, ts);
    const f = buf.subarray(1, 1 + len);
    assert.equal(naiveChecksum(slice(f, 14, 34)), 0);
    assert.equal(be16(f, 40), naiveUdpChecksum(f, 4));
    assert.equal(be32(f, 30), 0x0a000001 + (i % 100), "dst IP steps and wraps");
    assert.equal(be16(f, 34), 1000 + (i % 1001));
    assert.equal(parseFrame(buf, 1, len, out), RxStatus.OK);
    assert.equal(out.seq, (0xfffffff0 + i) >>> 0);
    assert.equal(out.txNs, ts);
    assert.equal(out.flowId, 3);
    seen.add(be32(f, 26));
  }
  assert.ok(seen.size > 2900, `random source IPs vary (${seen.size} distinct)`);
});

Deno.test("the validator rejects corrupted, truncated and foreign frames", () => {
  const w = writer4();
  const buf = new Uint8Array(200);
  const out = new ReceivedFrame();
  const fresh = () => w.writeFull(buf, 0, 100, 1, 2);
  let len = fresh();
  buf[70] = buf[70]! ^ 1; // payload byte
  assert.equal(parseFrame(buf, 0, len, out), RxStatus.BAD_UDP_CHECKSUM);
  assert.equal(parseFrame(buf, 0, len, out, false), RxStatus.OK);
  len = fresh();
  buf[22] = buf[22]! ^ 1; // TTL
  assert.equal(parseFrame(buf, 0, len, out), RxStatus.BAD_IP_CHECKSUM);
  len = fresh();
  assert.equal(parseFrame(buf, 0, len - 1, out), RxStatus.BAD_LENGTH);
  assert.equal(parseFrame(buf, 0, 10, out), RxStatus.BAD_LENGTH);
  assert.equal(parseFrame(buf, 150, 100, out), RxStatus.BAD_LENGTH, "past the buffer end");
  buf[12] = 0x08, buf[13] = 0x06; // ARP
  assert.equal(parseFrame(buf, 0, len, out), RxStatus.NOT_UDP);
  len = fresh();
  buf[42] = buf[42]! ^ 0xff; // magic, then fix the UDP checksum so only the magic is wrong
  buf[40] = 0, buf[41] = 0; // IPv4 "no checksum"
  assert.equal(parseFrame(buf, 0, len, out), RxStatus.BAD_MAGIC);
  len = fresh();
  buf[20] = 0x20; // a fragment offset
  assert.equal(parseFrame(buf, 0, len, out, false), RxStatus.NOT_UDP);
});

Deno.test("RFC 1624 incremental update equals full recompute over random patches", () => {
  let x = 12345;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0) >>> 8;
  for (let trial = 0; trial < 2000; trial++) {
    const n = 2 + (rnd() % 40) * 2;
    const data = new Uint8Array(n).map(() => rnd() & 0xff);
    let cksum = finishChecksum(sumBytes(data, 0, n));
    for (let k = 0; k < 5; k++) {
      const at = (rnd() % (n / 2)) * 2;
      const old = be16(data, at);
      const nw = k === 0 ? 0 : rnd() & 0xffff;
      data[at] = nw >> 8, data[at + 1] = nw & 255;
      cksum = checksumAdjust(cksum, old, nw);
      const full = naiveChecksum(Array.from(data));
      // One's complement has two zeros: RFC 1624 eqn. 3 yields 0x0000 where a full
      // recompute yields 0xffff, and only when every covered word is zero.
      if (full === 0xffff && data.every((b) => b === 0)) assert.ok(cksum === 0 || cksum === full);
      else assert.equal(cksum, full, `trial ${trial}`);
    }
  }
});

Deno.test("sumBytes equals the naive sum at any offset and length", () => {
  let x = 777;
  const rnd = () => (x = (x * 1103515245 + 12345) >>> 0) >>> 8;
  const data = new Uint8Array(3000).map(() => rnd() & 0xff);
  for (let trial = 0; trial < 500; trial++) {
    const off = rnd() % 1000, len = rnd() % 1600;
    const fast = finishChecksum(sumBytes(data, off, len));
    const naive = naiveChecksum(slice(data, off, off + len));
    assert.equal(fast === 0 ? 0xffff : fast, naive === 0 ? 0xffff : naive, `${off}+${len}`);
  }
});

Deno.test("stampRun frames a batch of slots exactly as write does, wrapping the slot ring and the sequence", () => {
  for (const stampTime of [false, true]) {
    const mk = () =>
      new FrameWriter({
        ipVersion: 4,
        srcMac: parseRange("mac", "02:00:00:00:00:01"),
        dstMac: parseRange("mac", "02:00:00:00:00:02"),
        srcIp: parseRange("ipv4", "10.0.0.1"),
        dstIp: parseRange("ipv4", "10.1.0.1"),
        srcPort: parseRange("port", "1000"),
        dstPort: parseRange("port", "7001"),
        maxWireSize: 1518,
        stampTime,
      });
    const a = mk(), b = mk();
    const stride = 1536, hdr = 12, slots = 6;
    const region = new Uint8Array(slots * stride);
    const words = new Uint16Array(region.buffer);
    // The free-slot ring of a transmit queue: slots in some order, the batch wrapping its end.
    const ring = Uint32Array.of(3, 0, 5, 1, 4, 2);
    const want = new Uint8Array(2048);
    for (const size of [64, 1518]) {
      for (let s = 0; s < slots; s++) {
        a.prefill(region.subarray(s * stride + hdr, (s + 1) * stride), 0, size);
      }
      b.prefill(want, 0, size);
      // From ring index 4 for 5 slots: 4, 2, 3, 0, 5; sequence numbers across 0xffff and 2^32.
      for (const seq of [0xfffe, 0xfffffffd, 0]) {
        const next = a.stampRun(words, ring, 4, 5, stride, hdr, size, seq, 77e9);
        assert.equal(next, (seq + 5) >>> 0);
        for (let k = 0; k < 5; k++) {
          const slot = ring[(4 + k) % ring.length]!;
          const len = b.write(want, 0, size, (seq + k) >>> 0, 77e9);
          const got = region.subarray(slot * stride + hdr, slot * stride + hdr + len);
          assert.deepEqual(got, want.subarray(0, len), `${size} B seq ${seq}+${k} slot ${slot}`);
        }
      }
    }
    assert.throws(() => a.stampRun(words, ring, 0, 1, stride, hdr, 64, 1, 0), RangeError);
    assert.throws(() => a.stampRun(words, ring, 0, 1, stride, 11, 1518, 1, 0), RangeError);
  }
});

Deno.test("stampTime false: the timestamp stays 0 and both checksums stay right (fixed and varying flows)", () => {
  for (const extra of [{}, { srcPort: "1000-1009", dstIp: "10.1.0.1-10.1.0.5" }]) {
    const w = new FrameWriter({
      ipVersion: 4,
      srcMac: parseRange("mac", "02:00:00:00:00:01"),
      dstMac: parseRange("mac", "02:00:00:00:00:02"),
      srcIp: parseRange("ipv4", "192.168.0.1"),
      dstIp: parseRange("ipv4", extra.dstIp ?? "192.168.0.199"),
      srcPort: parseRange("port", extra.srcPort ?? "9"),
      dstPort: parseRange("port", "9"),
      maxWireSize: 1518,
      stampTime: false,
    });
    const buf = new Uint8Array(2048);
    w.prefill(buf, 0);
    const rx = new ReceivedFrame();
    for (const [i, size] of [64, 65, 1518, 64].entries()) {
      const len = w.write(buf, 0, size, 1000 + i, 123_456_789_000 + i);
      const f = buf.subarray(0, len);
      assert.equal(parseFrame(f, 0, len, rx, true), RxStatus.OK, `frame ${i}`);
      assert.equal(rx.seq, 1000 + i);
      assert.equal(rx.txNs, 0, "no timestamp written");
      assert.equal(be16(f, 40), naiveUdpChecksum(f, 4), `udp checksum, frame ${i}`);
      assert.equal(naiveChecksum(slice(f, 14, 34)), 0, `ip header sums to 0, frame ${i}`);
    }
  }
});

Deno.test("stamp gives the same bytes as write for a fixed flow of one size, through 16-bit words", () => {
  for (const stampTime of [true, false]) {
    const mk = () =>
      new FrameWriter({
        ipVersion: 4,
        srcMac: parseRange("mac", "02:00:00:00:00:01"),
        dstMac: parseRange("mac", "02:00:00:00:00:02"),
        srcIp: parseRange("ipv4", "192.168.0.1"),
        dstIp: parseRange("ipv4", "192.168.0.199"),
        srcPort: parseRange("port", "9"),
        dstPort: parseRange("port", "9"),
        maxWireSize: 1518,
        stampTime,
      });
    const a = mk(), b = mk();
    // Two slots of one region (as a queue's frames are), behind a 10-byte header.
    const region = new Uint8Array(2 * 2048);
    const words = new Uint16Array(region.buffer);
    const offs = [10, 2048 + 10];
    const want = new Uint8Array(2048);
    for (const size of [64, 1000]) {
      for (const o of offs) a.prefill(region.subarray(o, o + 2038), 0, size);
      b.prefill(want, 0, size);
      for (let i = 0; i < 6; i++) {
        const seq = 0xfffffffe + i; // wraps past 2^32
        const o = offs[i % 2]!;
        const len = a.stamp(words, o, size, seq, 1e12 + i * 7);
        assert.equal(len, b.write(want, 0, size, seq, 1e12 + i * 7));
        assert.deepEqual(region.subarray(o, o + len), want.subarray(0, len), `${size} #${i}`);
      }
    }
    assert.throws(() => a.stamp(words, 10, 64, 1, 0), RangeError, "size not last written");
    assert.throws(() => a.stamp(words, 11, 1000, 1, 0), RangeError, "odd offset");
  }
  const varying = writer4({ srcPort: "1-2" });
  const buf = new Uint8Array(2048);
  varying.prefill(buf, 0, 64);
  assert.equal(varying.fixedFlow, false);
  assert.throws(() => varying.stamp(new Uint16Array(buf.buffer), 0, 64, 1, 0), RangeError);
});
