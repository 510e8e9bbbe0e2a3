import assert from "node:assert/strict";
import { FrameWriter } from "../../lib/pktgen/frame.ts";
import { parseRange } from "../../lib/pktgen/flows.ts";
import { type ByteSink, PcapWriter, readPcap } from "../../lib/pktgen/pcap.ts";
import { parseSizes } from "../../lib/pktgen/sizes.ts";
import { hostTest, NEEDS } from "./host_needs.ts";

/** A sink that keeps everything and accepts at most `chunk` bytes per call (short writes). */
class MemorySink implements ByteSink {
  parts: Uint8Array[] = [];
  constructor(readonly chunk = Infinity) {}
  writeSync(p: Uint8Array): number {
    const n = Math.min(p.length, this.chunk);
    this.parts.push(p.slice(0, n));
    return n;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.parts.reduce((a, p) => a + p.length, 0));
    let at = 0;
    for (const p of this.parts) out.set(p, at), at += p.length;
    return out;
  }
}

function frames(ipVersion: 4 | 6, count: number) {
  const w = new FrameWriter({
    ipVersion,
    srcMac: parseRange("mac", "02:00:00:00:00:01"),
    dstMac: parseRange("mac", "02:00:00:00:00:02"),
    srcIp: parseRange(ipVersion === 4 ? "ipv4" : "ipv6", ipVersion === 4 ? "10.0.0.1" : "fd00::1"),
    dstIp: parseRange(
      ipVersion === 4 ? "ipv4" : "ipv6",
      ipVersion === 4 ? "10.0.0.2-10.0.0.9" : "fd00::2-fd00::9",
    ),
    srcPort: parseRange("port", "1000-1099"),
    dstPort: parseRange("port", "9"),
    maxWireSize: 1518,
  });
  const sizes = parseSizes(ipVersion === 4 ? "imix" : "100:7,570:4,1518:1");
  const buf = new Uint8Array(2048);
  w.prefill(buf, 0);
  return Array.from({ length: count }, (_, i) => {
    const len = w.write(buf, 0, sizes.next(), i, 1000 * i);
    return buf.slice(0, len);
  });
}

Deno.test("pcap round trip: header, records, timestamps, short writes, µs and ns", () => {
  for (const nanoseconds of [true, false]) {
    const sink = new MemorySink(1000);
    const w = new PcapWriter(sink, {
      nanoseconds,
      bufferBytes: 4096,
      origin: { sec: 1_700_000_000, ns: 999_999_000 },
    });
    const fs = frames(4, 50);
    fs.forEach((f, i) => w.write(f, 0, f.length, i * 1_000_001));
    w.flush();
    const file = readPcap(sink.bytes());
    assert.equal(file.nanoseconds, nanoseconds);
    assert.deepEqual([file.linktype, file.snaplen, file.littleEndian], [1, 65535, true]);
    assert.equal(file.records.length, 50);
    file.records.forEach((r, i) => {
      assert.deepEqual(r.data, fs[i]);
      assert.equal(r.origLen, fs[i]!.length);
      const total = 999_999_000 + i * 1_000_001;
      assert.equal(r.sec, 1_700_000_000 + Math.floor(total / 1e9));
      const ns = total % 1e9;
      assert.equal(r.ns, nanoseconds ? ns : Math.floor(ns / 1000) * 1000);
    });
  }
});

Deno.test("pcap snaplen truncates and keeps the original length", () => {
  const sink = new MemorySink();
  const w = new PcapWriter(sink, { snaplen: 64, origin: { sec: 0, ns: 0 } });
  const f = new Uint8Array(200).map((_, i) => i);
  w.write(f, 10, 150, 5);
  w.flush();
  const r = readPcap(sink.bytes()).records[0]!;
  assert.equal(r.origLen, 150);
  assert.deepEqual(r.data, f.slice(10, 74));
  assert.throws(() => readPcap(sink.bytes().slice(0, 50)), /truncated/);
  assert.throws(() => readPcap(new Uint8Array(24)), /bad magic/);
});

hostTest("tshark reads our pcap and finds every checksum valid", [NEEDS.tshark], async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    for (const v of [4, 6] as const) {
      await t.step(`IPv${v}`, async () => {
        const path = `${dir}/v${v}.pcap`;
        const fs = frames(v, 40);
        // A control frame with a broken UDP checksum proves tshark really checks.
        const broken = fs[fs.length - 1]!;
        broken[broken.length - 1] = broken[broken.length - 1]! ^ 0x55;
        {
          using w = PcapWriter.create(path);
          fs.forEach((f, i) => w.write(f, 0, f.length, i * 1000));
        }
        const fields = v === 4
          ? ["ip.checksum.status", "udp.checksum.status", "ip.dst", "udp.srcport", "frame.len"]
          : ["ipv6.plen", "udp.checksum.status", "ipv6.dst", "udp.srcport", "frame.len"];
        const out = await new Deno.Command("tshark", {
          args: [
            "-r",
            path,
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "udp.check_checksum:TRUE",
            "-T",
            "fields",
            "-E",
            "separator=,",
            ...fields.flatMap((f) => ["-e", f]),
          ],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        const rows = new TextDecoder().decode(out.stdout).trim().split("\n").map((l) =>
          l.split(",")
        );
        assert.equal(rows.length, fs.length);
        rows.forEach((row, i) => {
          // checksum.status: 0 bad, 1 good, 2 unverified (Wireshark's proto_checksum_enum_e).
          if (v === 4) assert.equal(row[0], "1", `frame ${i} IP checksum`);
          else assert.equal(Number(row[0]), fs[i]!.length - 54);
          assert.equal(row[1], i === fs.length - 1 ? "0" : "1", `frame ${i} UDP checksum`);
          assert.equal(row[2], v === 4 ? `10.0.0.${2 + (i % 8)}` : `fd00::${2 + (i % 8)}`);
          assert.equal(row[3], String(1000 + (i % 100)));
          assert.equal(Number(row[4]), fs[i]!.length);
        });
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
