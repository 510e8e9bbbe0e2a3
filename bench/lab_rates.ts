/**
 * Packet rates in the lab, in ONE boot on the same NICs: `virtio pktgen` against
 * `dpdk-testpmd` (txonly / rxonly over uio_pci_generic) and the kernel's pktgen through
 * virtio_net; then the JS heap over a long `virtio pktgen` run. The guest half is
 * bench/guest/rates.ts; this half boots the lab, reads its JSON lines, prints the table with
 * our ratio to each tool and draws `out/bench-rates.svg`.
 *
 * Each tool runs in several interleaved rounds per NIC and size (TCG makes single runs
 * scatter: testpmd's rate is bimodal); a tool's figure is the median of the kept per-second
 * samples of all its rounds, its spread the lowest and highest per-round median.
 *
 * Standalone: `deno run -A bench/lab_rates.ts [--quick] [--json] [--no-rates] [--no-memory]
 * [--wire] [--trace] [--rounds N] [--nics net-modern,net-packed,net-legacy] [--sizes 64,1518]
 * [--directions tx,rx]
 * [--svg PATH]` (the chart, default out/bench-rates.svg; the JSON goes beside it)
 *
 * @module
 */
import { parseArgs } from "node:util";
import { startLab } from "../lib/lab/vm.ts";
import { type QemuWindow, WindowRecorder } from "./qemu_work.ts";
import { type PerFrame, perFrameOf, perFrameText } from "./per_frame.ts";
import { pciAddress, resolveDevices } from "../lib/lab/devices.ts";
import { barChartSvg } from "../lib/pktgen/plot.ts";
import {
  type HeapRecord,
  heapSummary,
  median,
  summarizeRates,
  type ToolSummary,
  type WireRateRecord,
} from "./guest/parse.ts";

/** A rate record, with the peer NIC's count of what crossed the wire for transmit runs. */
type RateRecord = WireRateRecord;

export interface LabRatesOptions {
  quick?: boolean;
  /** Transmit and receive rates (default true). */
  rates?: boolean;
  /** The heap run (default true; 60 s, 10 s with quick). */
  memory?: boolean;
  /** Where the SVG chart goes (the raw result beside it as .json); default `<repo>/out/bench-rates.svg`. */
  svgPath?: string;
  /**
   * Count transmit frames at the peer NIC too ("wire Mpps"). Off by default: a receiving
   * peer slows QEMU's transmit path for every tool (see bench/README.md).
   */
  wire?: boolean;
  /** Interleaved rounds per tool, NIC and size (default 1 with quick, else 2). */
  rounds?: number;
  /** Only these NICs (default all of {@link RATE_NICS}). */
  nics?: readonly string[];
  /** Only these wire sizes (default 64 and 1518). */
  sizes?: readonly number[];
  /** Only these directions (default both: every transmit row, then every receive row). */
  directions?: readonly ("tx" | "rx")[];
  /**
   * Count QEMU's doorbell and interrupt trace events in each kept window (QMP
   * trace-event-set-state; the log backend writes a line per event, which costs QEMU a
   * little: off by default).
   */
  trace?: boolean;
  /** Guest progress lines. */
  log?: (line: string) => void;
}

export interface LabRatesResult {
  /** Per-second samples each run keeps (after its warm-up). */
  secondsPerRun: number;
  /** Runs per tool, NIC and size, interleaved with the other tools' runs. */
  rounds: number;
  /** Per-second samples dropped before them (start-up, JIT warm-up), the same for every tool. */
  warmupSeconds: number;
  bootMs: number;
  totalMs: number;
  /** The lab's accelerator ("tcg" or "kvm"): figures from different ones do not compare. */
  accel: string;
  /** Every run's record (each with its round and all its samples). */
  rates: RateRecord[];
  /** Per direction/NIC/size/tool over all rounds: the figures of the table and the chart. */
  summary: ToolSummary[];
  /**
   * Our median Mpps divided by the other tool's, per direction/NIC/size/tool. For transmit,
   * both sides' wire counts (the peer NIC's receive rate) when both exist — a tool's own
   * counter may count frames it enqueued rather than frames that left; `wire` says which.
   */
  ratios: {
    direction: string;
    nic: string;
    size: number;
    versus: string;
    ratio: number;
    wire: boolean;
  }[];
  heap?: HeapRecord & { summary: ReturnType<typeof heapSummary> };
  /** QEMU's CPU time (and trace counts) over each run's kept window, by record key. */
  windows?: QemuWindow[];
  /** Per direction/NIC/size/tool over all rounds: what each frame cost the device. */
  perFrame?: PerFrame[];
  svgPath?: string;
  /** Guest-side failures worth reading (rates that could not be measured). */
  errors: string[];
}

/** The NICs the rates are measured on, in order. */
export const RATE_NICS = ["net-modern", "net-packed", "net-legacy"] as const;
const SIZES = [64, 1518];
const PEER = "net-peer";
const REPO = new URL("../", import.meta.url).pathname;

function addressOf(name: string): string {
  const d = resolveDevices(name)[0]!;
  return pciAddress(d.slot);
}

/** Our median over each other tool's, for every cell where both were measured. */
export function ratiosOf(summary: readonly ToolSummary[]): LabRatesResult["ratios"] {
  const out: LabRatesResult["ratios"] = [];
  for (const ours of summary.filter((r) => r.tool === "virtio" && r.pps)) {
    for (const other of summary) {
      if (
        other.tool === "virtio" || !other.pps || other.direction !== ours.direction ||
        other.nic !== ours.nic || other.size !== ours.size
      ) continue;
      const wire = !!ours.wirePps && !!other.wirePps;
      out.push({
        direction: ours.direction,
        nic: ours.nic,
        size: ours.size,
        versus: other.tool,
        ratio: wire ? ours.wirePps! / other.wirePps! : ours.pps! / other.pps,
        wire,
      });
    }
  }
  return out;
}

const TOOL_NAMES: Record<RateRecord["tool"], string> = {
  virtio: "virtio pktgen",
  testpmd: "dpdk-testpmd",
  kernel: "kernel pktgen",
};

/** Grouped bars: one group per direction/NIC/size, one bar per tool; Mpps above the bars. */
export function ratesChartSvg(rates: readonly ToolSummary[], title: string): string {
  const key = (r: ToolSummary) => `${r.direction} ${r.nic.replace("net-", "")} ${r.size} B`;
  const categories = [...new Set(rates.map(key))];
  const tools = (["virtio", "testpmd", "kernel"] as const).filter((t) =>
    rates.some((r) => r.tool === t)
  );
  return barChartSvg({
    title,
    yLabel: "packets per second",
    categories,
    series: tools.map((t) => ({
      name: TOOL_NAMES[t],
      values: categories.map((c) => {
        const r = rates.find((x) => x.tool === t && key(x) === c);
        return r?.pps ?? NaN;
      }),
    })),
    valueFormat: (v) => (v / 1e6).toFixed(2),
    width: Math.max(900, 140 * categories.length),
    height: 500,
  });
}

/** Boots the lab once and measures; see the module doc. */
export async function benchLabRates(o: LabRatesOptions = {}): Promise<LabRatesResult> {
  const quick = o.quick ?? false;
  const rates = o.rates ?? true;
  const memory = o.memory ?? true;
  const seconds = 2;
  const rounds = o.rounds ?? (quick ? 1 : 2);
  const warmup = 4;
  const heapSeconds = memory ? (quick ? 10 : 60) : 0;
  for (const n of o.nics ?? []) {
    if (!(RATE_NICS as readonly string[]).includes(n)) {
      throw new Error(`unknown NIC '${n}' (known: ${RATE_NICS.join(", ")})`);
    }
  }
  const nics = (o.nics ?? RATE_NICS).map((n) => `${n}=${addressOf(n)}`).join(",");
  const command = [
    "deno",
    "run",
    "-A",
    "--no-check",
    `${REPO}bench/guest/rates.ts`,
    "--nics",
    nics,
    "--peer",
    addressOf(PEER),
    "--seconds",
    String(seconds),
    "--warmup",
    String(warmup),
    "--sizes",
    (o.sizes ?? SIZES).join(","),
    "--rounds",
    String(rounds),
    "--heap-seconds",
    String(heapSeconds),
    "--heap-nic",
    addressOf("net-modern"),
    ...(rates ? (o.directions ?? ["tx", "rx"]).map((d) => `--${d}`) : []),
    ...(o.wire ? ["--wire"] : []),
  ];
  const fromConsole: string[] = [];
  const started = performance.now();
  let failure: string | undefined;
  const qemuName = `virtio-bench-${crypto.randomUUID().slice(0, 8)}`;
  const logDir = o.trace ? await Deno.makeTempDir({ prefix: "virtio-bench-trace-" }) : undefined;
  const logPath = logDir ? `${logDir}/qemu.log` : undefined;
  let vm: Awaited<ReturnType<typeof startLab>> | undefined;
  const recorder = new WindowRecorder(qemuName, logPath, () => vm!.qmp());
  const lab = await (async () => {
    vm = await startLab({
      devices: "net",
      command,
      // The lab adds a hub port with no peer ("sink") whenever it has NICs: it accepts every
      // frame, so transmit never waits for a receiver. -name finds QEMU's pid (its threads'
      // CPU time per window); -D is where the log trace backend writes.
      qemuArgs: ["-name", `${qemuName},debug-threads=on`, ...(logPath ? ["-D", logPath] : [])],
      memoryMiB: 2048,
      hugepages: 384,
      env: { VIRTIO_BENCH_GUEST: "1" },
      // ~10 min on a quiet host with 2 rounds; other guests running beside it can double that.
      timeoutMs: 25 * 60_000,
      onConsole: (l) => {
        if (recorder.onConsole(l)) return;
        if (l.startsWith("bench:")) o.log?.(l);
        else if (l.startsWith("bench-record {")) {
          fromConsole.push(l.slice("bench-record ".length));
        }
      },
    });
    return await vm.result;
  })().catch((e) => {
    // Keep what the guest reported before it was killed.
    failure = e instanceof Error ? e.message : String(e);
    return { code: -1, stdout: "", bootMs: NaN, totalMs: performance.now() - started, accel: "?" };
  });
  await recorder.settle();
  if (logDir) await Deno.remove(logDir, { recursive: true }).catch(() => {});
  const lines = lab.stdout.includes("{") ? lab.stdout.split("\n") : fromConsole;
  const records = lines.filter((l) => l.startsWith("{")).flatMap((l) => {
    try {
      return [JSON.parse(l) as RateRecord | HeapRecord];
    } catch {
      return []; // a console line broken by a kernel message
    }
  });
  const rateRecords = records.filter((r): r is RateRecord => r.kind === "rate");
  const heapRecord = records.find((r): r is HeapRecord => r.kind === "heap");
  const errors = rateRecords.filter((r) => r.error).map((r) =>
    `${r.direction} ${r.tool} ${r.nic} ${r.size} B round ${r.round ?? 1}: ${r.error}`
  );
  if (heapRecord?.error) errors.push(`heap run: ${heapRecord.error}`);
  if (failure) errors.push(`lab: ${failure}`);
  else if (lab.code !== 0) errors.push(`guest script exited ${lab.code}`);
  const summary = summarizeRates(rateRecords);
  const result: LabRatesResult = {
    secondsPerRun: seconds,
    rounds,
    warmupSeconds: warmup,
    bootMs: lab.bootMs,
    totalMs: lab.totalMs,
    accel: lab.accel,
    rates: rateRecords,
    summary,
    ratios: ratiosOf(summary),
    windows: recorder.windows,
    perFrame: perFrameOf(rateRecords, recorder.windows),
    errors,
  };
  if (heapRecord) {
    result.heap = { ...heapRecord, summary: heapSummary(heapRecord.samples, quick ? 2 : 5) };
  }
  if (rateRecords.length > 0) {
    const svgPath = o.svgPath ?? `${REPO}out/bench-rates.svg`;
    await Deno.mkdir(svgPath.slice(0, svgPath.lastIndexOf("/")), { recursive: true });
    await Deno.writeTextFile(
      svgPath,
      ratesChartSvg(
        summary,
        `Packet rates in the lab, Mpps (one boot, ${lab.accel.toUpperCase()}, same NICs, ` +
          (rounds === 1 ? "one run per tool)" : `median of ${rounds} interleaved rounds)`),
      ),
    );
    result.svgPath = svgPath;
    // Every sample, for whoever wants to look behind the medians.
    await Deno.writeTextFile(svgPath.replace(/\.svg$/, "") + ".json", JSON.stringify(result));
  }
  return result;
}

const mpps = (pps: number | null | undefined) =>
  pps === null || pps === undefined ? "   fail" : (pps / 1e6).toFixed(3).padStart(7);

/** "0.35–3.50": the lowest and highest per-round figure, in Mpps. */
const spread = (s: ToolSummary | undefined) =>
  s?.roundMin == null || s.roundMax == null
    ? "-"
    : `${(s.roundMin / 1e6).toFixed(2)}–${(s.roundMax / 1e6).toFixed(2)}`;

/** For receive rows: what the traffic source sent while each receiver ran. */
function sourceNote(get: (tool: string) => ToolSummary | undefined): string {
  const ours = get("virtio")?.sourcePps, theirs = get("testpmd")?.sourcePps;
  if (ours === undefined && theirs === undefined) return "";
  return `   source ${mpps(ours ?? null).trim()} / ${mpps(theirs ?? null).trim()}`;
}

const TOOL_COLUMN = 10;

/** The human table: one line per direction/NIC/size, and the rounds' spread under it. */
export function labRatesText(r: LabRatesResult): string {
  const lines: string[] = [];
  if (r.rates.length) {
    const rounds = r.rounds ?? 1;
    lines.push(
      `packet rates, Mpps (lab ${r.accel}, boot ${(r.bootMs / 1000).toFixed(1)} s): per tool ` +
        `the median of all kept one-second samples of ` +
        (rounds === 1 ? "its one run" : `${rounds} interleaved rounds`),
      `(${r.secondsPerRun} kept per run after its warm-up; kernel pktgen: one figure per run)` +
        (rounds > 1 ? "; below each row the lowest and highest round's own median" : ""),
      `${"dir".padEnd(3)} ${"nic".padEnd(11)} ${"size".padStart(5)}  ` +
        ["virtio", "testpmd", "kernel"].map((t) => t.padStart(TOOL_COLUMN)).join(" ") +
        `   ${"wire Mpps v/t/k".padEnd(23)}ours/testpmd  ours/kernel`,
    );
    const wired = r.summary.some((x) => x.wirePps !== undefined);
    const cells = [...new Set(r.summary.map((x) => `${x.direction}|${x.nic}|${x.size}`))];
    for (const c of cells) {
      const [dir, nic, size] = c.split("|");
      const get = (tool: string) =>
        r.summary.find((x) =>
          x.direction === dir && x.nic === nic && String(x.size) === size && x.tool === tool
        );
      const ratio = (versus: string) => {
        const q = r.ratios.find((x) =>
          x.direction === dir && x.nic === nic && String(x.size) === size && x.versus === versus
        );
        return q ? q.ratio.toFixed(2) + (q.wire ? "w" : " ") : "-";
      };
      const tools = dir === "tx" ? ["virtio", "testpmd", "kernel"] : ["virtio", "testpmd"];
      const column = (f: (t: string) => string) =>
        ["virtio", "testpmd", "kernel"].map((t) =>
          (tools.includes(t) ? f(t) : "-").padStart(TOOL_COLUMN)
        ).join(" ");
      const wire = dir === "tx" && wired
        ? tools.map((t) => mpps(get(t)?.wirePps).trim()).join("/")
        : "-";
      lines.push(
        `${dir!.padEnd(3)} ${nic!.padEnd(11)} ${size!.padStart(5)}  ` +
          column((t) => mpps(get(t)?.pps).trim()) + `   ${wire.padEnd(23)}` +
          `${ratio("testpmd").padStart(12)}  ` +
          `${(dir === "tx" ? ratio("kernel") : "-").padStart(11)}` + sourceNote(get),
      );
      if (tools.some((t) => (get(t)?.rounds ?? 0) + (get(t)?.failed ?? 0) > 1)) {
        const failed = tools.filter((t) => get(t)?.failed).map((t) =>
          `${t} ${get(t)!.failed} failed`
        );
        lines.push(
          "    rounds min–max".padEnd(23) + column((t) => spread(get(t))) +
            (failed.length ? `   (${failed.join(", ")})` : ""),
        );
      }
    }
    if (wired) {
      lines.push(
        "wire: frames the peer NIC (kernel virtio_net, promiscuous) received per second over " +
          "the same steady window (median over rounds); ratios marked w compare wire counts",
      );
    } else lines.push("wire: not counted (--wire counts at the peer NIC; see bench/README.md)");
    if (r.svgPath) lines.push(`chart: ${r.svgPath}`);
  }
  if (r.heap) {
    const s = r.heap.summary;
    const mib = (b: number) => (b / 2 ** 20).toFixed(2);
    lines.push(
      `JS heap over a ${r.heap.seconds} s virtio pktgen tx run (${r.heap.address}, 64 B, ` +
        `${mpps(r.heap.txPps).trim()} Mpps): start ${mib(s.startBytes)} MiB, end ` +
        `${mib(s.endBytes)} MiB, max ${mib(s.maxBytes)} MiB, slope after ${s.slopeFromS} s ` +
        `${(s.slopeBytesPerS / 1024).toFixed(2)} KiB/s (${r.heap.samples.length} samples)`,
    );
    const tx = r.heap.txSamples ?? [];
    if (tx.length >= 20) {
      // The same run's speed early and late: how much the short rate runs' warm-up hides.
      lines.push(
        `  its tx rate: seconds 5-7 ${mpps(median(tx.slice(4, 7))).trim()} Mpps, last 10 s ` +
          `${mpps(median(tx.slice(-10))).trim()} Mpps`,
      );
    }
  }
  if (r.perFrame?.length) lines.push(perFrameText(r.perFrame));
  for (const e of r.errors) lines.push(`not measured: ${e}`);
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "no-rates": { type: "boolean", default: false },
      "no-memory": { type: "boolean", default: false },
      wire: { type: "boolean", default: false },
      trace: { type: "boolean", default: false },
      rounds: { type: "string" },
      nics: { type: "string" },
      sizes: { type: "string" },
      directions: { type: "string" },
      svg: { type: "string" },
    },
  });
  const list = (v: string | undefined) => v?.split(",").map((x) => x.trim()).filter(Boolean);
  const sizes = list(values.sizes)?.map(Number);
  const rounds = values.rounds === undefined ? undefined : Number(values.rounds);
  if (sizes?.some((n) => !Number.isInteger(n) || n < 64 || n > 1518)) {
    console.error(`lab_rates: --sizes takes wire sizes 64..1518, comma-separated`);
    Deno.exit(2);
  }
  const directions = list(values.directions);
  if (directions?.some((d) => d !== "tx" && d !== "rx")) {
    console.error(`lab_rates: --directions takes tx, rx or tx,rx`);
    Deno.exit(2);
  }
  if (rounds !== undefined && !(Number.isInteger(rounds) && rounds >= 1)) {
    console.error(`lab_rates: --rounds takes a whole number >= 1`);
    Deno.exit(2);
  }
  const r = await benchLabRates({
    quick: values.quick,
    rates: !values["no-rates"],
    memory: !values["no-memory"],
    wire: values.wire,
    trace: values.trace,
    rounds,
    nics: list(values.nics),
    sizes,
    ...(directions ? { directions: directions as ("tx" | "rx")[] } : {}),
    svgPath: values.svg,
    log: (l) => console.error(l),
  });
  console.log(values.json ? JSON.stringify(r) : labRatesText(r));
}
