/**
 * Runs INSIDE the lab guest (bench/lab_scaling.ts starts it): what scales with more queues or
 * more cores. Prints one JSON line per run ({@link ScalingRecord}); progress on stderr.
 *
 * - queue pairs: `virtio pktgen` 64-byte transmit on a 4-pair tap NIC with 1, 2 and 4 pairs
 *   (one loop serves them all);
 * - cores: `virtio pktgen` on net-modern alone, on net-packed alone, then both at once from
 *   two processes pinned to the two vCPUs — what a second JS thread (a Worker per queue, or a
 *   second process) would buy.
 *
 *   deno run -A bench/guest/scaling.ts --mq ADDR --nics ADDR,ADDR [--seconds 8] [--warmup 4] [--rounds 2]
 */
import { parseArgs } from "node:util";
import { pktgenIntervalPps, steadyRate } from "./parse.ts";

/** One measured run: which case, which device, its steady tx rate. */
export interface ScalingRecord {
  kind: "scaling";
  /** "queues" (pairs on one NIC) or "cores" (processes on separate NICs). */
  group: "queues" | "cores";
  /** e.g. "4 pairs", "alone", "together". */
  case: string;
  /** PCI address of the NIC. */
  device: string;
  round: number;
  /** Median of the kept per-second samples (Mpps); NaN when the run failed. */
  mpps: number;
  /** Every per-second sample (Mpps). */
  samples: number[];
  error?: string;
}

const { values: a } = parseArgs({
  options: {
    mq: { type: "string" },
    nics: { type: "string", default: "" },
    seconds: { type: "string", default: "8" },
    warmup: { type: "string", default: "4" },
    rounds: { type: "string", default: "2" },
  },
});
const SECONDS = Number(a.seconds), WARMUP = Number(a.warmup), ROUNDS = Number(a.rounds);
const [nicA, nicB] = a.nics.split(",");
const REPO = new URL("../../", import.meta.url).pathname;
const log = (m: string) => console.error(`bench: ${m}`);

/** One `virtio pktgen` transmit run; `cpu` pins it with taskset. */
async function pktgen(device: string, extra: string[], cpu?: number) {
  const argv = [
    Deno.execPath(),
    "run",
    "-A",
    "--no-check",
    `${REPO}main.ts`,
    "pktgen",
    device,
    "--access",
    "sysfs",
    "--duration",
    String(SECONDS + WARMUP),
    "--json",
    "--interval",
    "1",
    "--quiet",
    ...extra,
  ];
  const cmd = cpu === undefined ? argv : ["taskset", "-c", String(cpu), ...argv];
  const out = await new Deno.Command(cmd[0]!, { args: cmd.slice(1), stderr: "piped" }).output();
  const samples = pktgenIntervalPps(new TextDecoder().decode(out.stdout), "tx").map((p) => p / 1e6);
  const error = out.success ? undefined : new TextDecoder().decode(out.stderr).trim().slice(-300);
  return { samples, mpps: samples.length ? steadyRate(samples, WARMUP) : NaN, error };
}

function emit(r: Omit<ScalingRecord, "kind">) {
  console.log(JSON.stringify({ kind: "scaling", ...r }));
  log(`${r.group} ${r.case} ${r.device}: ${r.mpps.toFixed(3)} Mpps`);
}

for (let round = 1; round <= ROUNDS; round++) {
  if (a.mq) {
    for (const pairs of [1, 2, 4]) {
      const r = await pktgen(a.mq, ["--queues", String(pairs)]);
      emit({
        group: "queues",
        case: `${pairs} pair${pairs > 1 ? "s" : ""}`,
        device: a.mq,
        round,
        ...r,
      });
    }
  }
  if (nicA && nicB) {
    for (const [device, cpu] of [[nicA, 0], [nicB, 1]] as const) {
      emit({ group: "cores", case: "alone", device, round, ...(await pktgen(device, [], cpu)) });
    }
    const [ra, rb] = await Promise.all([pktgen(nicA, [], 0), pktgen(nicB, [], 1)]);
    emit({ group: "cores", case: "together", device: nicA, round, ...ra });
    emit({ group: "cores", case: "together", device: nicB, round, ...rb });
  }
}
