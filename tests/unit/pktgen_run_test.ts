/**
 * The pktgen loop against the simulated virtio-net device (both ring formats): transmit
 * counts, loopback loss/duplicates/reordering made by the simulated wire, rate pacing on a
 * fake clock, stall and device-gone detection, abort.
 */
import assert from "node:assert/strict";
import { checkAgainstDevice } from "../../lib/pktgen/run/options.ts";
import { runSession, type SessionDeps } from "../../lib/pktgen/run/session.ts";
import { summaryJson, summaryText } from "../../lib/pktgen/run/report.ts";
import { parseFrame, ReceivedFrame, RxStatus } from "../../lib/pktgen/validate.ts";
import { wireSize } from "../../lib/pktgen/sizes.ts";
import { cpusOf, threadAffinity } from "../../lib/sys/affinity.ts";
import { fakeTime, pktgenOptions, simPort } from "./pktgen_sim_port.ts";

const deps = (tick: () => void, extra: Partial<SessionDeps> = {}, stepNs = 1000): SessionDeps => {
  const t = fakeTime(stepNs);
  return { signal: new AbortController().signal, clock: t.clock, sleep: t.sleep, tick, ...extra };
};

for (const format of ["split", "packed"] as const) {
  Deno.test(`pktgen run (${format}): transmit sends exactly --count valid frames in size order`, async () => {
    const { sim, port, net } = simPort(format, { loopback: false });
    assert.equal(net.format, format);
    const seen: Uint8Array[] = [];
    sim.onTransmit = (f) => seen.push(f);
    const o = pktgenOptions([
      "00:04.0",
      "-n",
      "1000",
      "--size",
      "64-70",
      "--quiet",
      "--src-port",
      "1000-1003",
    ]);
    const r = await runSession(o, { tx: port }, deps(() => sim.step()));
    assert.equal(r.stopReason, "count");
    assert.equal(r.sent, 1000);
    assert.equal(r.summary.tx.packets, 1000);
    sim.step();
    assert.equal(seen.length, 1000);
    const rx = new ReceivedFrame();
    let bytes = 0;
    seen.forEach((f, i) => {
      assert.equal(parseFrame(f, 0, f.length, rx), RxStatus.OK, `frame ${i}`);
      assert.equal(rx.seq, i);
      assert.equal(wireSize(f.length), 64 + (i % 7));
      assert.equal(rx.srcPort, 1000 + (i % 4));
      bytes += wireSize(f.length);
    });
    assert.equal(r.summary.tx.bytes, bytes);
    assert.equal(r.expectations.met, true);
  });

  Deno.test(`pktgen run (${format}): one flow of one size (the stamp path) sends valid frames in order; doorbells counted`, async () => {
    const { sim, port } = simPort(format, { loopback: false });
    const seen: Uint8Array[] = [];
    sim.onTransmit = (f) => seen.push(f.slice());
    const o = pktgenOptions(["00:04.0", "-n", "700", "--size", "100", "--batch", "32", "--quiet"]);
    const r = await runSession(o, { tx: port }, deps(() => sim.step()));
    assert.equal(r.sent, 700);
    sim.step();
    assert.equal(seen.length, 700);
    const rx = new ReceivedFrame();
    seen.forEach((f, i) => {
      assert.equal(parseFrame(f, 0, f.length, rx, true), RxStatus.OK, `frame ${i}`);
      assert.equal(rx.seq, i);
      assert.equal(rx.txNs, 0, "tx mode writes no timestamp");
      assert.equal(wireSize(f.length), 100);
    });
    const bells = r.tx!.doorbells.tx;
    assert.ok(bells.publishes >= Math.ceil(700 / 32), `publishes ${bells.publishes}`);
    assert.ok(bells.notifications >= 1 && bells.notifications <= bells.publishes);
    assert.deepEqual(
      r.tx!.doorbells.rx,
      { publishes: 1, notifications: 1 },
      "rx: the initial fill",
    );
    assert.deepEqual(r.tx!.queues, [{ tx: 700, rx: 0 }], "one queue pair sent every frame");
  });

  Deno.test(`pktgen run (${format}): loopback counts every frame once, with latency`, async () => {
    const { sim, port } = simPort(format);
    const o = pktgenOptions([
      "00:04.0",
      "--loopback",
      "00:05.0",
      "-n",
      "2000",
      "--size",
      "imix",
      "--quiet",
    ]);
    const r = await runSession(o, { tx: port, rx: port }, deps(() => sim.step()));
    assert.equal(r.sent, 2000);
    assert.equal(r.summary.rx.unique, 2000);
    assert.equal(r.summary.rx.lost, 0);
    assert.equal(r.summary.rx.duplicates, 0);
    assert.equal(r.summary.rx.reordered, 0);
    assert.equal(r.summary.rx.errors, 0);
    assert.ok(r.summary.latency && r.summary.latency.count === 2000);
    assert.ok(r.summary.latency.minNs >= 0);
    assert.equal(r.summary.rx.bytes, r.summary.tx.bytes);
    assert.equal(r.expectations.met, true);
  });

  Deno.test(`pktgen run (${format}): loss, duplicates and reordering made on the wire are reported`, async () => {
    const { sim, port } = simPort(format, { loopback: false });
    // The wire: drops every 10th frame, duplicates every 7th, swaps each 13th with the next.
    let i = 0;
    let held: Uint8Array | undefined;
    sim.onTransmit = (f) => {
      const n = i++;
      if (n % 10 === 9) return;
      if (n % 13 === 0) {
        held = f;
        return;
      }
      sim.inject(f);
      if (n % 7 === 0) sim.inject(f);
      if (held) {
        sim.inject(held);
        held = undefined;
      }
    };
    const n = 1300;
    const o = pktgenOptions([
      "00:04.0",
      "--loopback",
      "00:05.0",
      "-n",
      `${n}`,
      "--quiet",
      "--expect-loss",
      "200",
    ]);
    const r = await runSession(o, { tx: port, rx: port }, deps(() => sim.step()));
    let dropped = 0, dups = 0, swapped = 0;
    for (let k = 0; k < n; k++) {
      if (k % 10 === 9) dropped++;
      else if (k % 13 === 0) swapped++; // held back, arrives after the next one that passes
      else if (k % 7 === 0) dups++;
    }
    assert.equal(r.summary.rx.lost, dropped);
    assert.equal(r.summary.rx.duplicates, dups);
    assert.equal(r.summary.rx.reordered, swapped);
    assert.equal(r.summary.rx.unique, n - dropped);
    assert.equal(r.expectations.met, true, "130 lost ≤ 200 expected");
    const strict = await runSession(
      pktgenOptions([
        "00:04.0",
        "--loopback",
        "00:05.0",
        "-n",
        "100",
        "--quiet",
        "--expect-loss",
        "0",
      ]),
      { tx: port, rx: port },
      deps(() => sim.step()),
    );
    assert.equal(strict.expectations.met, false);
    assert.match(strict.expectations.failures[0]!, /frames lost, at most 0 expected/);
  });
}

Deno.test("pktgen run: --rate holds on a fake clock (pps and bit/s)", async () => {
  for (const [rate, want] of [["20k", 20_000], ["10.24Mbit", 20_000]] as const) {
    const { sim, port } = simPort("split", { loopback: false });
    const o = pktgenOptions(["00:04.0", "--rate", rate, "--duration", "2", "--quiet"]);
    const r = await runSession(o, { tx: port }, deps(() => sim.step()));
    assert.equal(r.stopReason, "duration");
    const pps = r.summary.tx.packets / 2;
    assert.ok(Math.abs(pps - want) / want < 0.02, `${rate}: ${pps} pps, want ${want}`);
  }
});

Deno.test("pktgen run: a device that stops consuming ends the run with a stall error", async () => {
  const { port } = simPort("split", { loopback: false });
  const events: string[] = [];
  const o = pktgenOptions(["00:04.0", "--stall-timeout", "0.5", "--quiet"]);
  const r = await runSession(o, { tx: port }, deps(() => {}, { onEvent: (m) => events.push(m) }));
  assert.equal(r.stopReason, "error");
  assert.match(r.error!, /transmit stalled: the device took no frame for 0.5 s/);
  assert.equal(r.sent, 64, "one ring's worth went out");
  assert.equal(r.expectations.met, false);
});

Deno.test("pktgen run: link down is reported, a vanished device (status 0xff) stops the run", async () => {
  const { sim, port, bar } = simPort("packed");
  const events: string[] = [];
  let turns = 0;
  const o = pktgenOptions(["00:04.0", "--loopback", "00:05.0", "--quiet", "--interval", "0.1"]);
  const r = await runSession(o, { tx: port, rx: port }, {
    ...deps(
      () => {
        sim.step();
        turns++;
        if (turns === 2000) bar.config[6] = 0; // link down
        if (turns === 8000) bar.state.status = 0xff; // surprise removal
      },
      {},
      50_000,
    ),
    onEvent: (m) => events.push(m),
  });
  assert.deepEqual(events, ["0000:00:04.0: link down"]);
  assert.equal(
    r.linkEvents.length,
    1,
    "one device watched once, though it both sends and receives",
  );
  assert.equal(r.linkEvents[0]!.up, false);
  assert.equal(r.stopReason, "error");
  assert.match(r.error!, /status reads 0xff: the device is gone/);
});

Deno.test("pktgen run: a function that left the PCI bus stops the run as unplugged, not as a stall", async () => {
  // QEMU's hot-unplug leaves the mapping reading 0, not 0xff: the bus is what tells.
  const { sim, port: simulated } = simPort("split");
  let onBus = true;
  const port = { ...simulated, present: () => onBus };
  let turns = 0;
  const o = pktgenOptions(["00:04.0", "--loopback", "00:05.0", "--quiet", "--interval", "0.1"]);
  const r = await runSession(
    o,
    { tx: port, rx: port },
    deps(
      () => {
        sim.step();
        if (++turns === 4000) onBus = false;
      },
      {},
      50_000,
    ),
  );
  assert.equal(r.stopReason, "error");
  assert.match(r.error!, /0000:00:04.0 is gone: hot-unplugged/);
});

Deno.test("pktgen run: an abort (SIGINT) stops an unbounded run with its summary", async () => {
  const { sim, port } = simPort("split");
  const ac = new AbortController();
  let turns = 0;
  const o = pktgenOptions(["00:04.0", "--loopback", "00:05.0", "--quiet"]);
  const r = await runSession(o, { tx: port, rx: port }, {
    ...deps(() => {
      sim.step();
      if (++turns === 500) ac.abort();
    }),
    signal: ac.signal,
  });
  assert.equal(r.stopReason, "signal");
  assert.ok(r.sent > 1000);
  assert.ok(r.summary.rx.unique >= r.sent - 64, "all but what was in flight arrived");
});

Deno.test("pktgen run: --rx counts valid frames and errors, stops at --count", async () => {
  const { sim, port } = simPort("split", { loopback: false });
  // Frames from another generator run, and some foreign traffic.
  const { sim: gen, port: genPort } = simPort("split", { loopback: false });
  const frames: Uint8Array[] = [];
  gen.onTransmit = (f) => frames.push(f);
  await runSession(
    pktgenOptions(["00:05.0", "-n", "310", "--quiet"]),
    { tx: genPort },
    deps(() => gen.step()),
  );
  gen.step();
  let fed = 0;
  const o = pktgenOptions(["00:04.0", "--rx", "-n", "300", "--quiet", "--verify"]);
  const r = await runSession(
    o,
    { rx: port },
    deps(() => {
      for (let k = 0; k < 16 && fed < frames.length; k++) {
        if (fed % 50 === 0) sim.inject(new Uint8Array(60)); // not ours
        const f = frames[fed++]!;
        if (fed === 100) f[f.length - 1]! ^= 0xff; // corrupt one payload byte
        sim.inject(f);
      }
      sim.step();
    }),
  );
  assert.equal(r.stopReason, "count");
  assert.equal(r.summary.rx.packets, 300, "--count counts valid frames");
  assert.equal(r.summary.rx.unique, 300);
  assert.equal(r.summary.rx.errorsByKind.bad_udp_checksum, 1);
  assert.ok(r.summary.rx.errorsByKind.not_udp! >= 6);
  assert.equal(r.summary.latency, null, "no shared clock in rx mode");
});

/**
 * A transmit run on the simulated NIC under a fake clock. `everyTurn(turn, sleep)` runs once per
 * loop turn (after the device's step) and may stall the loop with `sleep(ms)`; the run's own
 * sleeps are counted.
 */
async function txOnFakeClock(
  args: string[],
  everyTurn: (turn: number, sleep: (ms: number) => void) => void = () => {},
  stepNs?: number,
) {
  const { sim, port } = simPort("split", { loopback: false });
  const t = fakeTime(stepNs);
  let turns = 0, sleeps = 0;
  const r = await runSession(pktgenOptions(["00:04.0", ...args, "--quiet"]), { tx: port }, {
    signal: new AbortController().signal,
    clock: t.clock,
    sleep: (ms) => {
      if (ms > 0) sleeps++;
      return t.sleep(ms);
    },
    tick: () => {
      sim.step();
      everyTurn(++turns, t.sleep);
    },
  });
  return { r, sleeps };
}

Deno.test("pktgen run: the pacer catches up on a 200 ms pause of the loop", async () => {
  const { r } = await txOnFakeClock(["--rate", "20k", "--duration", "2"], (turn, sleep) => {
    if (turn === 1000) sleep(200); // the host descheduled us
  });
  assert.ok(r.maxPauseNs >= 200e6, `${r.maxPauseNs}`);
  // That one gap is the run's pause time.
  assert.ok(r.pausedNs >= 200e6 && r.pausedNs < 205e6, `${r.pausedNs}`);
  const pps = r.summary.tx.packets / 2;
  assert.ok(Math.abs(pps - 20_000) / 20_000 < 0.02, `${pps} pps`);
});

Deno.test("pktgen run: a session with cpu set runs its loop pinned there and unpins", async () => {
  const before = threadAffinity();
  const cpu = cpusOf(before).at(-1)!;
  let during: number[] = [];
  const { r } = await txOnFakeClock(["-n", "1000", "--cpu", String(cpu)], (turn) => {
    if (turn === 1) during = cpusOf(threadAffinity());
  });
  assert.deepEqual(during, [cpu]);
  assert.equal(r.cpu, cpu);
  assert.deepEqual(threadAffinity(), before);
});

Deno.test("pktgen run: the pacer's own sleeps are not pauses", async () => {
  const { r, sleeps } = await txOnFakeClock(["--rate", "100", "--duration", "1"]);
  assert.ok(sleeps > 500, `the pacer slept ${sleeps} times`);
  assert.equal(r.pausedNs, 0);
  assert.ok(Math.abs(r.summary.tx.packets - 100) <= 2, `${r.summary.tx.packets} packets`);
});

Deno.test("pktgen run: gaps over 1 ms between loop turns add up in pausedNs and the summary", async () => {
  // 20 µs per clock reading: a few thousand turns, not millions.
  const { r } = await txOnFakeClock(["--duration", "0.2", "--interval", "0.1"], (turn, sleep) => {
    if (turn % 50 === 0 && turn <= 500) sleep(2); // ten 2-ms gaps: counted
    if (turn % 50 === 25 && turn <= 500) sleep(0.5); // ten 0.5-ms gaps: too short
  }, 20_000);
  assert.ok(r.pausedNs >= 20e6 && r.pausedNs < 21e6, `${r.pausedNs}`);
  assert.equal(JSON.parse(summaryJson(r)).pausedNs, r.pausedNs);
  // Per interval too: all of it in the first of the two, where the gaps were.
  assert.deepEqual(r.snapshots.map((x) => x.pausedNs), [r.pausedNs, 0]);
  assert.match(
    summaryText(r),
    /loop {7}paused 10% of the run in gaps over 1 ms, up to 2(\.\d+)? ms/,
  );
});

Deno.test("pktgen run: IPv6 flows with ranges loop back valid, one flow, no loss", async () => {
  const { sim, port } = simPort("packed");
  const seen: Uint8Array[] = [];
  sim.onTransmit = (f) => seen.push(f);
  const o = pktgenOptions([
    "00:04.0",
    "--loopback",
    "00:05.0",
    "--ipv6",
    "--dst-ip",
    "fd00::10-fd00::1f,random",
    "--size",
    "84-300,random",
    "-n",
    "700",
    "--quiet",
    "--verify",
  ]);
  const r = await runSession(o, { tx: port, rx: port }, deps(() => sim.step()));
  assert.equal(r.flows!.ipVersion, 6);
  assert.equal(r.summary.rx.unique, 700);
  assert.equal(r.summary.rx.errors, 0, JSON.stringify(r.summary.rx.errorsByKind));
  const rx = new ReceivedFrame();
  const dsts = new Set<number>();
  for (const f of seen) {
    assert.equal(parseFrame(f, 0, f.length, rx), RxStatus.OK);
    assert.equal(rx.ipVersion, 6);
    assert.ok(wireSize(f.length) >= 84 && wireSize(f.length) <= 300);
    dsts.add(f[14 + 39]!); // last byte of the destination address
  }
  assert.ok(dsts.size > 8 && [...dsts].every((b) => b >= 0x10 && b <= 0x1f), [...dsts].join());
});

Deno.test("pktgen run: a frame larger than the device MTU + 18 is refused before sending", () => {
  const o = pktgenOptions(["00:04.0", "--size", "64-1600"]);
  assert.throws(
    () => checkAgainstDevice(o, { mtu: 1500, address: "0000:00:04.0" }),
    /frame size 1600 exceeds 0000:00:04.0's MTU 1500 \+ 18 = 1518 bytes/,
  );
  checkAgainstDevice(o, { mtu: 9000, address: "0000:00:04.0" });
});

Deno.test("pktgen run: a full-speed run on the real clock sees an abort from a timer promptly", async () => {
  const { sim, port } = simPort("split");
  const ac = new AbortController();
  // Bounded, so a loop that never yields properly ends by "duration" and fails below.
  const o = pktgenOptions(["00:04.0", "--loopback", "00:05.0", "--quiet", "--duration", "5"]);
  let abortedAt = 0;
  // A timer (like a signal) can only run when the loop yields a full event-loop turn.
  const timer = setTimeout(() => {
    abortedAt = performance.now();
    ac.abort();
  }, 200);
  const started = performance.now();
  const r = await runSession(o, { tx: port, rx: port }, {
    signal: ac.signal,
    tick: () => sim.step(),
  });
  clearTimeout(timer);
  const stopMs = performance.now() - abortedAt;
  assert.equal(r.stopReason, "signal");
  assert.ok(abortedAt - started < 1000, `timer ran ${abortedAt - started} ms after the start`);
  assert.ok(stopMs < 500, `stopped ${stopMs} ms after the abort`);
  assert.ok(r.sent > 0);
});
