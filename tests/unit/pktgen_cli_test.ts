/**
 * `virtio pktgen` on the command line: every bad option is a usage error (exit 2) with one
 * clear line before any device is touched; a run on the simulated NIC prints the summary
 * (text or JSON), writes --pcap and --plot, and its exit code follows --expect-loss.
 */
import assert from "node:assert/strict";
import { run } from "../../main.ts";
import type { CommandIO } from "../../commands/command.ts";
import { runPktgen } from "../../commands/pktgen.ts";
import { readPcap } from "../../lib/pktgen/pcap.ts";
import { parseFrame, ReceivedFrame, RxStatus } from "../../lib/pktgen/validate.ts";
import { simPort } from "./pktgen_sim_port.ts";
import { cpusOf, threadAffinity } from "../../lib/sys/affinity.ts";

function captureIO(signal = new AbortController().signal) {
  const out: string[] = [], err: string[] = [];
  const io: CommandIO = {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
    color: false,
    signal,
  };
  return { io, out: () => out.join(""), err: () => err.join("") };
}

const BAD: [string[], RegExp][] = [
  [[], /missing DEVICE/],
  [["00:04.0", "00:05.0"], /one DEVICE expected/],
  [["nonsense"], /PCI address|not a PCI/i],
  [["00:04.0", "--size", "0"], /frame size '0' must be an integer from 64 to/],
  [["00:04.0", "--size", "3000"], /frame size '3000' must be an integer from 64 to 2040/],
  [["00:04.0", "--size", "70", "--ipv6"], /frame size '70' must be an integer from 84/],
  [["00:04.0", "--size", "100-64"], /reversed/],
  [["00:04.0", "--size", "64:0"], /SIZE:WEIGHT/],
  [["00:04.0", "--rate=-5"], /--rate must be positive, got '-5'/],
  [["00:04.0", "--rate", "-5"], /--rate must be positive, got '-5'/],
  [["00:04.0", "--rate", "0"], /rate '0' is not understood/],
  [["00:04.0", "--rate", "fast"], /rate 'fast' is not understood/],
  [["00:04.0", "--queue-size", "100"], /not a power of two/],
  [["00:04.0", "--queue-size", "0"], /--queue-size must be an integer from 1 to 32768/],
  [
    ["00:04.0", "--queue-size", "64", "--batch", "128"],
    /--batch 128 is larger than --queue-size 64/,
  ],
  [["00:04.0", "--batch", "0"], /--batch must be an integer from 1/],
  [["00:04.0", "--count=-1"], /--count must be an integer from 1/],
  [["00:04.0", "--count", "0"], /--count must be an integer from 1/],
  [["00:04.0", "--count", "1.5"], /--count must be an integer/],
  [["00:04.0", "--duration", "abc"], /--duration must be a number of seconds/],
  [["00:04.0", "--interval", "0"], /--interval must be a number of seconds ≥ 0.1/],
  [["00:04.0", "--ring", "circular"], /--ring must be one of split, packed, auto/],
  [["00:04.0", "--access", "magic"], /--access must be one of sysfs, vfio, auto/],
  [["00:04.0", "--queues", "0"], /--queues must be an integer from 1/],
  [["00:04.0", "--rx", "--rate", "1M"], /--rx does not transmit: --rate/],
  [
    ["00:04.0", "--rx", "--size", "64", "--dst-ip", "1.2.3.4"],
    /--rx does not transmit: --size, --dst-ip/,
  ],
  [["00:04.0", "--rx", "--loopback", "00:05.0"], /--rx and --loopback exclude each other/],
  [["00:04.0", "--loopback", "0000:00:04.0"], /another device/],
  [["00:04.0", "--pcap", "x.pcap"], /--pcap records received frames/],
  [["00:04.0", "--expect-loss", "0"], /--expect-loss needs a receiver/],
  [["00:04.0", "--rx", "--expect-loss=-1"], /--expect-loss must be an integer from 0/],
  [["00:04.0", "--src-mac", "02:00:00:00:00"], /not a MAC address/],
  [["00:04.0", "--dst-ip", "10.0.0.300"], /not an IPv4 address/],
  [["00:04.0", "--ipv6", "--dst-ip", "10.0.0.1"], /not an IPv6 address/],
  [["00:04.0", "--src-port", "70000"], /not a UDP port/],
  [["00:04.0", "--src-port", "9-1"], /reversed/],
  [["00:04.0", "--plot", "out.png"], /--plot writes an SVG/],
  [["00:04.0", "--bogus"], /Unknown option '--bogus'/],
  [["00:04.0", "--count"], /argument missing/],
  [["00:04.0", "--cpu", "x"], /--cpu must be an integer/],
  [["00:04.0", "--cpu", "1024"], /--cpu must be an integer from 0 to 1023/],
  // Refused before any device is touched (this test runs on the host with the real open).
  [["00:04.0", "--cpu", "1023"], /--cpu 1023: CPU 1023 is not one this process may run on \(0/],
];

Deno.test("pktgen CLI: each bad option is a usage error (exit 2) with one clear line", async () => {
  for (const [args, message] of BAD) {
    const c = captureIO();
    const code = await run(["pktgen", ...args], c.io);
    assert.equal(code, 2, `${args.join(" ")} → ${code}: ${c.err()}`);
    const lines = c.err().trimEnd().split("\n");
    assert.equal(lines.length, 2, `${args.join(" ")}: ${c.err()}`);
    assert.match(lines[0]!, message, args.join(" "));
    assert.equal(lines[1], "Try 'virtio pktgen --help'.");
    assert.equal(c.out(), "");
  }
});

Deno.test("pktgen CLI: --help documents modes, options, the JSON schema and exit codes", async () => {
  const c = captureIO();
  assert.equal(await run(["pktgen", "--help"], c.io), 0);
  for (
    const word of ["--rx", "--loopback", "--rate", "--queues", "--expect-loss", "virtio-pktgen/1"]
  ) {
    assert.ok(c.out().includes(word), word);
  }
  assert.match(c.out(), /JS side stays on one\s+core/);
});

Deno.test("pktgen CLI: --cpu pins the loop for the run, says so in the JSON, and unpins", async () => {
  const before = threadAffinity();
  const cpu = cpusOf(before).at(-1)!;
  const s = simDeps("split");
  let during: number[] = [];
  const c = captureIO();
  const code = await runPktgen(["00:04.0", "-n", "1000", "--cpu", String(cpu), "--json"], c.io, {
    ...s.deps,
    tick: () => {
      s.deps.tick();
      if (during.length === 0) during = cpusOf(threadAffinity());
    },
  });
  assert.equal(code, 0, c.err());
  assert.deepEqual(during, [cpu]);
  assert.equal(JSON.parse(c.out()).cpu, cpu);
  assert.deepEqual(threadAffinity(), before);
});

function simDeps(format: "split" | "packed", lossEvery = 0) {
  const { sim, port } = simPort(format, { loopback: lossEvery === 0 });
  let n = 0;
  if (lossEvery > 0) sim.onTransmit = (f) => ++n % lossEvery !== 0 && sim.inject(f);
  let opened = 0;
  return {
    deps: {
      open: () => {
        opened++;
        return { ...port, [Symbol.dispose]: () => opened-- };
      },
      tick: () => sim.step(),
    },
    opened: () => opened,
  };
}

Deno.test("pktgen CLI: loopback --json summary on the simulated NIC, devices given back", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const s = simDeps("packed");
    const c = captureIO();
    const code = await runPktgen(
      [
        "00:04.0",
        "--loopback",
        "00:05.0",
        "-n",
        "500",
        "--json",
        "--expect-loss",
        "0",
        "--pcap",
        `${dir}/rx.pcap`,
        "--plot",
        `${dir}/run.svg`,
      ],
      c.io,
      s.deps,
    );
    assert.equal(code, 0, c.err());
    assert.equal(s.opened(), 0, "every device disposed");
    const doc = JSON.parse(c.out());
    assert.equal(doc.schema, "virtio-pktgen/1");
    assert.equal(doc.type, "summary");
    assert.equal(doc.mode, "loopback");
    assert.equal(doc.ok, true);
    assert.equal(doc.sent, 500);
    assert.equal(doc.summary.rx.unique, 500);
    assert.equal(doc.summary.rx.lost, 0);
    assert.equal(doc.tx.format, "packed");
    assert.equal(doc.flows.dstMac, "52:54:00:12:34:56");
    assert.equal(typeof doc.summary.latency.p99Ns, "number");
    const pcap = readPcap(Deno.readFileSync(`${dir}/rx.pcap`));
    assert.equal(pcap.records.length, 500);
    const rx = new ReceivedFrame();
    pcap.records.forEach((r, i) => {
      assert.equal(parseFrame(r.data, 0, r.data.length, rx), RxStatus.OK);
      assert.equal(rx.seq, i);
    });
    assert.match(Deno.readTextFileSync(`${dir}/run.svg`), /^<svg/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("pktgen CLI: loss above --expect-loss exits 1 and says why", async () => {
  const s = simDeps("split", 50);
  const c = captureIO();
  const code = await runPktgen(
    ["00:04.0", "--loopback", "00:05.0", "-n", "1000", "--expect-loss", "5", "--quiet"],
    c.io,
    s.deps,
  );
  assert.equal(code, 1);
  assert.match(c.out(), /20 lost \(2\.000%\)/);
  assert.match(c.out(), /FAILED: 20 frames lost, at most 5 expected/);
});

Deno.test("pktgen CLI: --json --interval prints one JSON line per interval then the summary", async () => {
  const s = simDeps("split");
  const c = captureIO();
  let t = 0;
  const code = await runPktgen(
    ["00:04.0", "--duration", "3", "--json", "--interval", "1", "--rate", "1k"],
    c.io,
    { ...s.deps, clock: () => (t += 10_000), sleep: (ms) => (t += ms * 1e6, Promise.resolve()) },
  );
  assert.equal(code, 0);
  const lines = c.out().trimEnd().split("\n").map((l) => JSON.parse(l));
  const intervals = lines.filter((l) => l.type === "interval");
  assert.ok(intervals.length >= 2 && intervals.length <= 3, `${intervals.length} intervals`);
  for (const l of intervals) assert.ok(Math.abs(l.tx.pps - 1000) < 50, `${l.tx.pps}`);
  assert.equal(lines.at(-1).type, "summary");
  assert.match(c.err(), /tx +1\.00 kpps/);
  assert.match(c.err(), /\d+%/, "progress shown for a bounded run");
});
