/**
 * Runs INSIDE the lab guest (bench/lab_rates.ts starts it): packet rates of `virtio pktgen`,
 * `dpdk-testpmd` and the kernel's pktgen on the same NICs in one boot, then the JS heap of a
 * long `virtio pktgen` run. Prints one JSON line per measurement ({@link RateRecord},
 * {@link HeapRecord}) on stdout; progress on stderr.
 *
 * Under TCG a tool's rate moves between runs in one boot (testpmd's is bimodal: 0.5 or 3.5
 * Mpps), so each NIC × size is measured in `--rounds` rounds with the tools taking turns
 * (ours, testpmd, kernel, ours, testpmd, kernel, ...): a slow spell of the host hits every
 * tool alike, and the host half takes the median over all rounds.
 *
 * It rebinds NICs (uio_pci_generic for testpmd, back to virtio-pci after), so it refuses to
 * run anywhere but the lab guest.
 *
 *   deno run -A bench/guest/rates.ts --nics net-modern=0000:00:04.0,... --peer ADDR
 *     [--sizes 64,1518] [--seconds 4] [--warmup 3] [--rounds 2] [--tx] [--rx]
 *     [--heap-seconds 60] [--heap-nic ADDR] [--wire]
 */
import { parseArgs } from "node:util";
import {
  type HeapRecord,
  kernelPktgenPps,
  median,
  pktgenDoorbells,
  pktgenIntervalPps,
  type RateRecord,
  steadyRate,
  testpmdPps,
  type WireRateRecord,
} from "./parse.ts";

const { values: a } = parseArgs({
  options: {
    nics: { type: "string", default: "" },
    peer: { type: "string" },
    sizes: { type: "string", default: "64,1518" },
    seconds: { type: "string", default: "4" },
    warmup: { type: "string", default: "3" },
    rounds: { type: "string", default: "2" },
    tx: { type: "boolean", default: false },
    rx: { type: "boolean", default: false },
    "heap-seconds": { type: "string", default: "0" },
    "heap-nic": { type: "string" },
    wire: { type: "boolean", default: false },
  },
});

function inLabGuest(): boolean {
  try {
    return Deno.env.get("VIRTIO_BENCH_GUEST") === "1" &&
      Deno.readTextFileSync("/proc/cmdline").includes("rdinit=/init");
  } catch {
    return false;
  }
}
if (!inLabGuest()) {
  console.error("bench/guest/rates.ts rebinds NICs: it runs only inside the lab guest");
  Deno.exit(2);
}

const SECONDS = Number(a.seconds);
/** Per-second samples dropped at the start of a `virtio pktgen` run (Deno's JIT under TCG). */
const WARMUP = Number(a.warmup);
/**
 * testpmd's first sample covers its start (a partial interval; it read 3.6 Mpps once) and it
 * is at speed from the second on: one dropped sample is its warm-up.
 */
const TESTPMD_WARMUP = 1;
/** Interleaved runs per tool, NIC and size. */
const ROUNDS = Math.max(1, Number(a.rounds) || 1);
const SIZES = a.sizes.split(",").map(Number);
const NICS = a.nics.split(",").filter(Boolean).map((p) => {
  const [nic, address] = p.split("=");
  return { nic: nic!, address: address! };
});
const REPO = new URL("../../", import.meta.url).pathname;
const log = (m: string) => console.error(`bench: ${m}`);
/**
 * Each record goes to stdout and, prefixed, to stderr (the lab's console, which the host reads
 * as it comes): a guest killed at the time limit still leaves the records it made.
 */
const emitLine = (json: string) => {
  console.log(json);
  console.error(`bench-record ${json}`);
};
const emit = (r: RateRecord | HeapRecord) => emitLine(JSON.stringify(r));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const dec = new TextDecoder();

// ---- sysfs binding (guest devices only; the guard above) ----

function driverOf(address: string): string | undefined {
  try {
    return Deno.readLinkSync(`/sys/bus/pci/devices/${address}/driver`).split("/").pop();
  } catch {
    return undefined;
  }
}

/** Binds a lab NIC to `driver` with driver_override (cleared again for virtio-pci). */
function bindTo(address: string, driver: "uio_pci_generic" | "virtio-pci"): void {
  const dev = `/sys/bus/pci/devices/${address}`;
  if (Deno.readTextFileSync(`${dev}/vendor`).trim() !== "0x1af4") {
    throw new Error(`${address} is not a virtio device`);
  }
  if (driverOf(address) === driver) return;
  Deno.writeTextFileSync(`${dev}/driver_override`, driver === "virtio-pci" ? "\n" : driver);
  if (driverOf(address)) Deno.writeTextFileSync(`${dev}/driver/unbind`, address);
  Deno.writeTextFileSync("/sys/bus/pci/drivers_probe", address);
  if (driverOf(address) !== driver) throw new Error(`${address}: could not bind ${driver}`);
}

function ifname(address: string): string {
  for (const v of Deno.readDirSync(`/sys/bus/pci/devices/${address}`)) {
    if (!v.name.startsWith("virtio")) continue;
    for (const n of Deno.readDirSync(`/sys/bus/pci/devices/${address}/${v.name}/net`)) {
      return n.name;
    }
  }
  throw new Error(`${address} has no kernel network interface`);
}

async function sh(cmd: string): Promise<string> {
  const out = await new Deno.Command("sh", { args: ["-c", cmd], stderr: "piped" }).output();
  if (!out.success) throw new Error(`${cmd}: ${dec.decode(out.stderr).trim()}`);
  return dec.decode(out.stdout).trim();
}

// ---- testpmd ----

interface Testpmd {
  /** Resolves with the per-second samples once `samples` of them were seen (or it ended). */
  samples(count: number): Promise<number[]>;
  /** Every per-second sample so far. */
  all(): number[];
  stop(): Promise<string>;
}

/**
 * Starts testpmd on one NIC (already bound to uio_pci_generic). Its stdout is line-buffered
 * (stdbuf) so each per-second figure arrives when printed.
 */
function startTestpmd(
  address: string,
  mode: "txonly" | "rxonly",
  size: number,
  lcores: string,
  prefix: string,
  /** Killed (SIGKILL) after this long, whatever happens. */
  maxMs = 90_000,
  window?: WindowMarks,
): Testpmd {
  const args = [
    "-oL",
    "dpdk-testpmd",
    "--lcores",
    lcores,
    "-n",
    "1",
    "-m",
    "128",
    "--file-prefix",
    prefix,
    "-a",
    address,
    "--",
    `--forward-mode=${mode}`,
    // testpmd's packet length excludes the FCS our sizes include: 64 → 60.
    `--txpkts=${size - 4}`,
    "--total-num-mbufs=8192",
    "--stats-period=1",
    "--nb-cores=1",
  ];
  const child = new Deno.Command("stdbuf", { args, stdout: "piped", stderr: "piped" }).spawn();
  let text = "";
  const waiters: (() => void)[] = [];
  let ended = false;
  const reading = (async () => {
    for await (const chunk of child.stdout) {
      text += dec.decode(chunk, { stream: true });
      window?.seen(testpmdPps(text, mode === "txonly" ? "tx" : "rx").length);
      waiters.splice(0).forEach((w) => w());
    }
    window?.done();
    ended = true;
    waiters.splice(0).forEach((w) => w());
  })();
  const errText = new Response(child.stderr).text();
  const dir = mode === "txonly" ? "tx" : "rx";
  const killer = setTimeout(() => child.kill("SIGKILL"), maxMs);
  return {
    async samples(count) {
      while (!ended && testpmdPps(text, dir).length < count) {
        await new Promise<void>((r) => waiters.push(r));
      }
      if (ended && testpmdPps(text, dir).length === 0) {
        throw new Error(
          `testpmd ended: ${(await errText).trim().split("\n").slice(-3).join(" | ")}`,
        );
      }
      return testpmdPps(text, dir).slice(0, count);
    },
    all: () => testpmdPps(text, dir),
    async stop() {
      try {
        child.kill("SIGINT");
      } catch { /* ended */ }
      await child.status;
      await reading;
      clearTimeout(killer);
      return text;
    },
  };
}

/** Binds to uio, runs testpmd for TESTPMD_WARMUP + SECONDS per-second samples, binds back. */
async function testpmdRun(
  address: string,
  mode: "txonly" | "rxonly",
  size: number,
  lcores: string,
  window?: WindowMarks,
): Promise<number[]> {
  bindTo(address, "uio_pci_generic");
  try {
    const prefix = `m${address.replace(/\W/g, "")}`;
    const t = startTestpmd(address, mode, size, lcores, prefix, 90_000, window);
    try {
      return await t.samples(TESTPMD_WARMUP + SECONDS);
    } finally {
      await t.stop();
      window?.done();
    }
  } finally {
    bindTo(address, "virtio-pci");
  }
}

// ---- virtio pktgen (the CLI, as users run it) ----

async function ourPktgen(
  address: string,
  args: string[],
  cpu?: number,
  window?: WindowMarks,
): Promise<string> {
  // N s of duration give N-1 whole intervals (the last, partial one is not reported).
  const duration = WARMUP + SECONDS + 1;
  const cmd = ["virtio", "pktgen", address, ...args, "--duration", String(duration)];
  cmd.push("--json", "--interval", "1", "--quiet", "--force", "--access", "sysfs");
  // --cpu pins the poll loop only, as testpmd's --lcores pins its lcores: V8's compiler and GC
  // threads stay free (taskset would put them on the loop's CPU too).
  if (cpu !== undefined) cmd.push("--cpu", String(cpu));
  const child = new Deno.Command(cmd[0]!, {
    args: cmd.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const errText = new Response(child.stderr).text();
  // Read the interval lines as they come, so the host can mark the kept window (per-frame
  // device work, see markWindow).
  let stdout = "";
  for await (const chunk of child.stdout) {
    stdout += dec.decode(chunk, { stream: true });
    window?.seen(stdout.split('"type":"interval"').length - 1);
  }
  await child.status;
  window?.done();
  if (!stdout.includes('"summary"')) {
    throw new Error(`virtio pktgen: ${(await errText).trim().split("\n").slice(-3)}`);
  }
  return stdout;
}

// ---- the kept window, marked on the console for the host (QEMU's CPU time, trace counts) ----

/**
 * Tells the host when a run's kept samples begin and end: "bench-window begin|end KEY" on the
 * console (stderr), which the host reads as it comes; there it reads QEMU's per-thread CPU
 * time and counts the device's notify/interrupt trace events between the two
 * (bench/lab_rates.ts). `seen(n)` is called with the samples seen so far.
 */
interface WindowMarks {
  seen(samples: number): void;
  done(): void;
}

function markWindow(key: string, warmup: number): WindowMarks {
  let state = 0; // 0 before, 1 inside, 2 after
  return {
    seen(n) {
      if (state === 0 && n >= warmup) {
        state = 1;
        console.error(`bench-window begin ${key}`);
      }
      if (state === 1 && n >= warmup + SECONDS) {
        state = 2;
        console.error(`bench-window end ${key}`);
      }
    },
    done() {
      if (state === 1) console.error(`bench-window end ${key}`);
      else if (state === 0) console.error(`bench-window none ${key}`);
      state = 2;
    },
  };
}

const windowKey = (
  b: { direction: string; nic: string; size: number; round: number },
  tool: string,
) => `${b.direction}|${tool}|${b.nic}|${b.size}|${b.round}`;

// ---- kernel pktgen through virtio_net ----

const PG = "/proc/net/pktgen";
const pg = (file: string, cmd: string) => Deno.writeTextFileSync(`${PG}/${file}`, cmd + "\n");

async function kernelPktgen(address: string, size: number): Promise<number> {
  const ifc = ifname(address);
  await sh(`ip link set ${ifc} up`);
  try {
    pg("kpktgend_0", "rem_device_all");
    pg("kpktgend_0", `add_device ${ifc}`);
    // The pktgen thread creates the device file: wait for it.
    for (let i = 0; i < 100; i++) {
      try {
        Deno.statSync(`${PG}/${ifc}`);
        break;
      } catch {
        await sleep(20);
      }
    }
    for (
      const c of [
        "count 0",
        `pkt_size ${size - 4}`, // pktgen's size excludes the FCS
        "delay 0",
        "clone_skb 0",
        // Up to 32 frames per doorbell (xmit_more), as testpmd's and our default batch.
        "burst 32",
        "dst 10.0.0.2",
        "dst_mac 02:00:00:00:00:02",
      ]
    ) pg(ifc, c);
    const run = new Deno.Command("sh", { args: ["-c", `echo start > ${PG}/pgctrl`] }).spawn();
    await sleep(SECONDS * 1000);
    pg("pgctrl", "stop");
    await run.status;
    const pps = kernelPktgenPps(Deno.readTextFileSync(`${PG}/${ifc}`));
    if (pps === undefined) throw new Error(`no result in ${PG}/${ifc}`);
    return pps;
  } finally {
    pg("kpktgend_0", "rem_device_all");
    await sh(`ip link set ${ifc} down`);
  }
}

// ---- the wire count: what the peer NIC (kernel virtio_net, promiscuous) received ----

interface PeerSample {
  t: number;
  packets: number;
  dropped: number;
}

/** The peer's interface, up and promiscuous for the transmit runs; undefined without a peer. */
let peerIfc: string | undefined;

function readPeer(): PeerSample {
  const stat = (n: string) => {
    try {
      return Number(Deno.readTextFileSync(`/sys/class/net/${peerIfc}/statistics/${n}`));
    } catch {
      return 0;
    }
  };
  return {
    t: performance.now(),
    packets: stat("rx_packets"),
    dropped: stat("rx_dropped") + stat("rx_missed_errors"),
  };
}

/** Samples the peer's counters 4× a second while a tool runs. */
function startWire(): () => PeerSample[] {
  const samples = [readPeer()];
  const timer = setInterval(() => samples.push(readPeer()), 250);
  return () => {
    clearInterval(timer);
    samples.push(readPeer());
    return samples;
  };
}

/**
 * The peer's receive rate over the tool's steady window: from the first quarter-second with
 * traffic (> 1000 pps: the tool has started), `warmup` seconds are skipped (the tool's own
 * warm-up rule), then the average over the next `seconds` seconds (or until traffic ends).
 */
function wireRate(
  samples: readonly PeerSample[],
  warmup: number,
  seconds: number,
): { pps: number | null; dropped: number } {
  let first = -1;
  for (let i = 1; i < samples.length; i++) {
    const a = samples[i - 1]!, b = samples[i]!;
    if ((b.packets - a.packets) / ((b.t - a.t) / 1000) > 1000) {
      first = i - 1;
      break;
    }
  }
  if (first < 0) return { pps: null, dropped: 0 };
  const t0 = samples[first]!.t + warmup * 1000;
  let from = samples.findIndex((s) => s.t >= t0);
  if (from < 0) from = first;
  let to = from;
  while (to + 1 < samples.length && samples[to + 1]!.t <= samples[from]!.t + seconds * 1000) {
    const a = samples[to]!, b = samples[to + 1]!;
    if ((b.packets - a.packets) / ((b.t - a.t) / 1000) <= 1000) break; // traffic ended
    to++;
  }
  if (to === from) return { pps: null, dropped: 0 };
  const a = samples[from]!, b = samples[to]!;
  return {
    pps: (b.packets - a.packets) / ((b.t - a.t) / 1000),
    dropped: b.dropped - a.dropped,
  };
}

// ---- the plan ----

/** Runs one measurement and emits its record; `warmup` samples are dropped before the median. */
async function measure(
  base: Omit<RateRecord, "kind" | "pps" | "samples" | "warmup" | "ms">,
  warmup: number,
  run: () => Promise<number[] | number>,
  source?: Testpmd,
): Promise<void> {
  const t0 = performance.now();
  const wire = base.direction === "tx" && peerIfc ? startWire() : undefined;
  const wireOf = () => {
    if (!wire) return {};
    const w = wireRate(wire(), warmup, SECONDS);
    return { wirePps: w.pps, wireDropped: w.dropped };
  };
  const sourceFrom = source ? source.all().length + 1 : 0;
  const sourcePps = () => (source ? { sourcePps: median(source.all().slice(sourceFrom)) } : {});
  lastDoorbells = undefined;
  try {
    const got = await run();
    const doorbells = lastDoorbells === undefined ? {} : { doorbells: lastDoorbells };
    const samples = typeof got === "number" ? [] : got;
    const pps = typeof got === "number" ? got : steadyRate(got, warmup);
    const src = sourcePps();
    const w = wireOf();
    const ms = Math.round(performance.now() - t0);
    emit(
      {
        kind: "rate",
        ...base,
        warmup,
        ms,
        pps,
        samples,
        ...src,
        ...w,
        ...doorbells,
      } satisfies WireRateRecord,
    );
    log(
      `${base.direction} ${base.tool} ${base.nic} ${base.size} B round ${base.round}: ` +
        `${(pps / 1e6).toFixed(3)} Mpps` +
        (src.sourcePps === undefined ? "" : ` (source ${(src.sourcePps / 1e6).toFixed(3)})`) +
        (w.wirePps == null ? "" : ` (wire ${(w.wirePps / 1e6).toFixed(3)}, ` +
          `peer dropped ${w.wireDropped})`) +
        ` (${(ms / 1000).toFixed(1)} s)`,
    );
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    const ms = Math.round(performance.now() - t0);
    emit({
      kind: "rate",
      ...base,
      warmup,
      ms,
      pps: null,
      samples: [],
      error,
      ...sourcePps(),
      ...wireOf(),
    });
    log(
      `${base.direction} ${base.tool} ${base.nic} ${base.size} B round ${base.round} failed: ${error}`,
    );
  }
}

/** Our pktgen's own doorbell counts of the last run (its --json summary), for the record. */
let lastDoorbells: RateRecord["doorbells"];

const ringFor = (nic: string) => (nic.includes("packed") ? "packed" : "split");

if (a.tx) {
  // The wire count: the peer NIC (kernel virtio_net) receives what crossed the hub. Opt-in:
  // QEMU then copies every frame into the peer's ring on the same main-loop thread that
  // runs the sender's transmit, and every tool falls to the peer's receive rate (see
  // bench/README.md).
  if (a.peer && a.wire) {
    try {
      bindTo(a.peer, "virtio-pci");
      peerIfc = ifname(a.peer);
      await sh(`ip link set ${peerIfc} up promisc on`);
      log(`wire count: ${peerIfc} (${a.peer}) up, promiscuous`);
    } catch (e) {
      peerIfc = undefined;
      log(`no wire count: ${e instanceof Error ? e.message : e}`);
    }
  }
  for (const { nic, address } of NICS) {
    for (const size of SIZES) {
      for (let round = 1; round <= ROUNDS; round++) {
        const base = { direction: "tx" as const, nic, address, size, round };
        await measure({ ...base, tool: "virtio" }, WARMUP, async () => {
          const out = await ourPktgen(
            address,
            ["--size", String(size), "--ring", ringFor(nic)],
            undefined,
            markWindow(windowKey(base, "virtio"), WARMUP),
          );
          lastDoorbells = pktgenDoorbells(out, "tx");
          return pktgenIntervalPps(out, "tx");
        });
        await measure(
          { ...base, tool: "testpmd" },
          TESTPMD_WARMUP,
          () =>
            testpmdRun(
              address,
              "txonly",
              size,
              "0@0,1@1",
              markWindow(windowKey(base, "testpmd"), TESTPMD_WARMUP),
            ),
        );
        await measure({ ...base, tool: "kernel" }, 0, () => kernelPktgen(address, size));
      }
    }
  }
  if (peerIfc) await sh(`ip link set ${peerIfc} promisc off down`).catch(() => {});
  peerIfc = undefined;
}

if (a.rx && a.peer) {
  // One traffic source for every receiver: testpmd txonly on the peer NIC, both of its
  // lcores on CPU 1; the receivers (ours and testpmd rxonly) run on CPU 0.
  for (const size of SIZES) {
    bindTo(a.peer, "uio_pci_generic");
    const source = startTestpmd(a.peer, "txonly", size, "0@1,1@1", "source", 25 * 60_000);
    try {
      const first = await source.samples(2);
      log(`rx source (testpmd txonly on ${a.peer}, ${size} B): ${first.at(-1)} pps`);
      for (const { nic, address } of NICS) {
        for (let round = 1; round <= ROUNDS; round++) {
          const base = { direction: "rx" as const, nic, address, size, round };
          await measure({ ...base, tool: "virtio" }, WARMUP, async () => {
            const out = await ourPktgen(
              address,
              ["--rx", "--ring", ringFor(nic)],
              0,
              markWindow(windowKey(base, "virtio"), WARMUP),
            );
            lastDoorbells = pktgenDoorbells(out, "rx");
            return pktgenIntervalPps(out, "rx");
          }, source);
          await measure(
            { ...base, tool: "testpmd" },
            TESTPMD_WARMUP,
            () =>
              testpmdRun(
                address,
                "rxonly",
                size,
                "0@0,1@0",
                markWindow(windowKey(base, "testpmd"), TESTPMD_WARMUP),
              ),
            source,
          );
        }
      }
    } catch (e) {
      log(`rx source failed: ${e instanceof Error ? e.message : e}`);
    } finally {
      await source.stop();
      bindTo(a.peer, "virtio-pci");
    }
  }
}

const heapSeconds = Number(a["heap-seconds"]);
if (heapSeconds > 0 && a["heap-nic"]) {
  const out = await new Deno.Command("deno", {
    args: [
      "run",
      "-A",
      "--no-check",
      `${REPO}bench/guest/heap.ts`,
      a["heap-nic"],
      String(heapSeconds),
    ],
    stderr: "inherit",
  }).output();
  const line = dec.decode(out.stdout).split("\n").find((l) => l.includes('"heap"'));
  if (line) emitLine(line);
  else log("heap run printed nothing");
}
