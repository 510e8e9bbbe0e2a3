/**
 * Host figures for the per-packet cost of pktgen's frame path: template patch + both
 * checksums (FrameWriter.write), the full-copy variant, and receive-side parsing with and
 * without checksum verification. Run: `deno run -A bench/pktgen_frames_bench.ts`
 * (or `deno bench -A bench/pktgen_frames_bench.ts` for Deno's harness).
 *
 * Each case writes into one 2 MiB "DMA" area of 1024 × 2 KiB buffers at increasing
 * offsets, like a TX ring, and reports ns per frame and the implied single-core Mpps.
 *
 * @module
 */
import { FrameWriter } from "../lib/pktgen/frame.ts";
import { parseRange } from "../lib/pktgen/flows.ts";
import { Pacer, parseRate } from "../lib/pktgen/pacer.ts";
import { parseSizes, wireSize } from "../lib/pktgen/sizes.ts";
import { RunStats } from "../lib/pktgen/stats.ts";
import { parseFrame, ReceivedFrame, RxStatus } from "../lib/pktgen/validate.ts";

const SLOTS = 1024, SLOT = 2048;
const dma = new Uint8Array(SLOTS * SLOT);

function writer(ipVersion: 4 | 6, manyFlows: boolean): FrameWriter {
  const v4 = ipVersion === 4;
  return new FrameWriter({
    ipVersion,
    srcMac: parseRange("mac", "02:00:00:00:00:01"),
    dstMac: parseRange("mac", "02:00:00:00:00:02"),
    srcIp: parseRange(v4 ? "ipv4" : "ipv6", v4 ? "10.0.0.1" : "fd00::1"),
    dstIp: parseRange(
      v4 ? "ipv4" : "ipv6",
      manyFlows
        ? (v4 ? "10.0.0.2-10.0.3.255,random" : "fd00::2-fd00::3ff,random")
        : v4
        ? "10.0.0.2"
        : "fd00::2",
    ),
    srcPort: parseRange("port", manyFlows ? "1024-65535" : "9"),
    dstPort: parseRange("port", "9"),
    maxWireSize: 1518,
  });
}

interface Case {
  name: string;
  run: (n: number) => void;
}
type CaseFactory = () => Case;

function txCase(name: string, w: FrameWriter, sizeSpec: string, full = false): CaseFactory {
  return () => txSetup(name, w, sizeSpec, full);
}

function txSetup(name: string, w: FrameWriter, sizeSpec: string, full: boolean): Case {
  const sizes = parseSizes(sizeSpec, w.minWireSize);
  for (let s = 0; s < SLOTS; s++) w.prefill(dma, s * SLOT);
  let seq = 0;
  return {
    name,
    run(n) {
      for (let i = 0; i < n; i++) {
        const off = (i & (SLOTS - 1)) * SLOT;
        if (full) w.writeFull(dma, off, sizes.next(), seq++, i * 100);
        else w.write(dma, off, sizes.next(), seq++, i * 100);
      }
    },
  };
}

function rxCase(name: string, sizeSpec: string, verify: boolean): CaseFactory {
  return () => rxSetup(name, sizeSpec, verify);
}

function rxSetup(name: string, sizeSpec: string, verify: boolean): Case {
  const w = writer(4, true);
  const sizes = parseSizes(sizeSpec);
  const lens = new Uint16Array(SLOTS);
  for (let s = 0; s < SLOTS; s++) lens[s] = w.writeFull(dma, s * SLOT, sizes.next(), s, s);
  const out = new ReceivedFrame();
  return {
    name,
    run(n) {
      let bad = 0;
      for (let i = 0; i < n; i++) {
        const s = i & (SLOTS - 1);
        if (parseFrame(dma, s * SLOT, lens[s]!, out, verify) !== RxStatus.OK) bad++;
      }
      if (bad) throw new Error(`${bad} frames failed validation`);
    },
  };
}

function measure(c: Case): number {
  c.run(200_000); // warm up: let the JIT optimise
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const n = 1_000_000;
    const t0 = performance.now();
    c.run(n);
    best = Math.min(best, ((performance.now() - t0) * 1e6) / n);
  }
  return best;
}

const cases: CaseFactory[] = [
  txCase("tx IPv4 64 B, 1 flow, patch", writer(4, false), "64"),
  txCase("tx IPv4 64 B, 1M flows random, patch", writer(4, true), "64"),
  txCase("tx IPv4 1518 B, 1 flow, patch", writer(4, false), "1518"),
  txCase("tx IPv4 IMIX, many flows, patch", writer(4, true), "imix"),
  txCase("tx IPv6 84 B, many flows, patch", writer(6, true), "84"),
  txCase("tx IPv4 64 B, full copy + patch", writer(4, false), "64", true),
  txCase("tx IPv4 1518 B, full copy + patch", writer(4, false), "1518", true),
  rxCase("rx IPv4 64 B, parse + verify checksums", "64", true),
  rxCase("rx IPv4 64 B, parse, no checksums", "64", false),
  rxCase("rx IPv4 1518 B, parse + verify checksums", "1518", true),
  rxCase("rx IPv4 1518 B, parse, no checksums", "1518", false),
];

/**
 * The whole per-packet path (copy + patch, validate, count, pace) run 5 M times between
 * markers; the parent counts V8 scavenges (young-generation GCs) in between. Zero means
 * nothing was allocated per packet.
 */
function allocationLoop(): void {
  const w = writer(4, true);
  const sizes = parseSizes("imix");
  const rx = new ReceivedFrame();
  const stats = new RunStats(0);
  let now = 0;
  const pacer = new Pacer(parseRate("100M"), () => now);
  const run = (n: number) => {
    for (let i = 0; i < n; i++) {
      const off = (i & (SLOTS - 1)) * SLOT;
      const len = w.writeFull(dma, off, sizes.next(), i, i * 10);
      if (parseFrame(dma, off, len, rx) !== RxStatus.OK) throw new Error("bad frame");
      stats.countRx(wireSize(len), rx.flowId, rx.seq, rx.txNs, i * 10 + 500);
      stats.countTx(1, wireSize(len));
      now += 10;
      pacer.spend(pacer.grant(32, 4000), 4000);
    }
  };
  run(1_000_000);
  console.log("ALLOC-START");
  run(5_000_000);
  console.log("ALLOC-END");
}

async function countScavenges(): Promise<number> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--trace-gc", new URL(import.meta.url).pathname, "--alloc"],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const inside = text.slice(text.indexOf("ALLOC-START"), text.indexOf("ALLOC-END"));
  return inside.split("Scavenge").length - 1;
}

if (import.meta.main && Deno.args.includes("--alloc")) allocationLoop();
else if (import.meta.main) {
  console.log(`host: ${Deno.build.os} ${Deno.build.arch}, deno ${Deno.version.deno}`);
  console.log(`${"case".padEnd(44)} ${"ns/frame".padStart(9)} ${"Mpps/core".padStart(10)}`);
  for (const make of cases) {
    const c = make();
    const ns = measure(c);
    console.log(
      `${c.name.padEnd(44)} ${ns.toFixed(1).padStart(9)} ${(1e3 / ns).toFixed(2).padStart(10)}`,
    );
  }
  const gcs = await countScavenges();
  console.log(`young-generation GCs over 5 M packets (copy, patch, validate, count, pace): ${gcs}`);
  console.log(
    `(load average ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" ")
    }: figures are noisy when busy)`,
  );
}
