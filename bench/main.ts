/**
 * `deno task bench [--quick] [--only probe,frames,queue,engine,rates,memory,scaling,blk] [--json]`
 *
 * Runs the benchmarks and prints their figures (a table per piece, or one JSON document).
 * Benchmarks measure; they never assert a speed. See bench/README.md for what each figure
 * means. The lab pieces (probe's guest half, rates, memory, scaling) boot QEMU guests: three
 * boots in all (probe set; NICs for rates + memory; mq + NICs for scaling), about seventeen
 * minutes on a quiet host (the rates run each tool in two interleaved rounds; one with --quick).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { benchProbeGuest, benchProbeHost, probeText } from "./probe_bench.ts";
import { benchLabRates, labRatesText } from "./lab_rates.ts";
import { type EngineBenchRow, engineText } from "./engine_bench.ts";
import { benchLabScaling, labScalingText } from "./lab_scaling.ts";
import { benchLabBlk, labBlkText } from "./lab_blk.ts";

const PIECES = ["probe", "frames", "queue", "engine", "rates", "memory", "scaling", "blk"] as const;
type Piece = typeof PIECES[number];

const { values } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    only: { type: "string", multiple: true },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (values.help) {
  console.log(
    "usage: deno task bench [--quick] [--only " + PIECES.join("|") + "[,...]] [--json]",
  );
  Deno.exit(0);
}
const only = (values.only ?? []).flatMap((s) => s.split(",")).map((s) => s.trim()).filter(
  Boolean,
);
for (const p of only) {
  if (!(PIECES as readonly string[]).includes(p)) {
    console.error(`bench: unknown piece '${p}' (known: ${PIECES.join(", ")})`);
    Deno.exit(2);
  }
}
const wanted = (p: Piece) => only.length === 0 || only.includes(p);
const quick = values.quick;
const REPO = new URL("../", import.meta.url).pathname;
const results: Record<string, unknown> = {
  host: {
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    cpus: navigator.hardwareConcurrency,
    loadavg: Deno.loadavg(),
  },
  quick,
};
const say = (text: string) => {
  if (!values.json) console.log(text + "\n");
};
const progress = (text: string) => console.error(text);
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));
const started = performance.now();

/** Runs another bench script as its own process (clean JIT and heap) and returns stdout. */
async function script(path: string, args: string[] = []): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${REPO}${path}`, ...args],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${path} exited ${out.code}`);
  return new TextDecoder().decode(out.stdout);
}

if (wanted("probe")) {
  progress("bench: probe on the host over the recorded tree ...");
  const host = benchProbeHost(quick ? 50 : 200);
  progress("bench: probe in the lab guest (boots the probe device set) ...");
  let guest;
  try {
    guest = await benchProbeGuest(quick);
  } catch (e) {
    guest = errorText(e);
  }
  results.probe = { host, guest };
  say(probeText(host, guest));
}

if (wanted("frames")) {
  progress("bench: pktgen frame path on the host ...");
  try {
    const text = await script("bench/pktgen_frames_bench.ts");
    const rows = [...text.matchAll(/^(\S.*?)\s+([\d.]+)\s+([\d.]+)$/gm)]
      .filter((m) => !m[1]!.startsWith("case"))
      .map((m) => ({ case: m[1]!.trim(), nsPerFrame: Number(m[2]), mppsPerCore: Number(m[3]) }));
    const gcs = /over 5 M packets.*?: (\d+)/.exec(text);
    results.frames = { rows, youngGcsOver5M: gcs ? Number(gcs[1]) : null };
    say("pktgen frame path (host, one core):\n" + text.trim());
  } catch (e) {
    results.frames = { error: errorText(e) };
    say(`frames: not measured: ${errorText(e)}`);
  }
}

if (wanted("queue")) {
  progress("bench: virtqueue post/kick/reclaim on the host ...");
  try {
    const packets = quick ? "300000" : "2000000";
    const rows = JSON.parse(await script("bench/queue_bench.ts", ["--json", "--packets", packets]));
    results.queue = rows;
    say(
      `virtqueue post+kick+reclaim (host, ${packets} buffers):\n` +
        (rows as { format: string; device: string; eventIdx: boolean; nsPerBuffer: number }[])
          .map((r) =>
            `${r.format.padEnd(6)} ${r.device.padEnd(4)} eventIdx=${r.eventIdx ? 1 : 0}  ` +
            `${r.nsPerBuffer.toFixed(1).padStart(7)} ns/buffer`
          ).join("\n"),
    );
  } catch (e) {
    results.queue = { error: errorText(e) };
    say(`queue: not measured: ${errorText(e)}`);
  }
}

if (wanted("engine")) {
  progress("bench: pktgen loop (runEngine) against an echo device on the host ...");
  try {
    const rows: EngineBenchRow[] = JSON.parse(
      await script("bench/engine_bench.ts", ["--json", ...(quick ? ["--seconds", "1"] : [])]),
    );
    results.engine = rows;
    say(engineText(rows));
  } catch (e) {
    results.engine = { error: errorText(e) };
    say(`engine: not measured: ${errorText(e)}`);
  }
}

if (wanted("rates") || wanted("memory")) {
  progress(
    `bench: lab packet rates${wanted("memory") ? " and heap" : ""} (one boot; ` +
      `${quick ? "~5" : "~10"} min) ...`,
  );
  try {
    const r = await benchLabRates({
      quick,
      rates: wanted("rates"),
      memory: wanted("memory"),
      log: progress,
    });
    results.rates = r;
    say(labRatesText(r));
  } catch (e) {
    results.rates = { error: errorText(e) };
    say(`rates: not measured: ${errorText(e)}`);
  }
}

if (wanted("scaling")) {
  progress(
    `bench: what scales — queue pairs, a second core (one boot; ${quick ? "~2" : "~5"} min) ...`,
  );
  try {
    const r = await benchLabScaling({ quick, log: progress });
    results.scaling = r;
    say(labScalingText(r));
  } catch (e) {
    results.scaling = { error: errorText(e) };
    say(`scaling: not measured: ${errorText(e)}`);
  }
}

if (wanted("blk")) {
  progress(`bench: disk I/O, blkgen vs fio (one boot; ${quick ? "~1" : "~4"} min) ...`);
  try {
    const r = await benchLabBlk({ quick, log: progress });
    results.blk = r;
    say(labBlkText(r));
  } catch (e) {
    results.blk = { error: errorText(e) };
    say(`blk: not measured: ${errorText(e)}`);
  }
}

results.totalSeconds = (performance.now() - started) / 1000;
if (values.json) console.log(JSON.stringify(results));
else console.log(`bench done in ${(results.totalSeconds as number).toFixed(0)} s`);
