/**
 * What scales in the lab (one boot of the `mq` and `net` sets): 64-byte transmit with 1, 2
 * and 4 queue pairs on a multiqueue tap NIC, and two `virtio pktgen` processes on two hub
 * NICs, each pinned to its own vCPU, against each alone. The guest half is
 * bench/guest/scaling.ts; figures are medians of the kept one-second samples of all rounds.
 *
 *   deno run -A bench/lab_scaling.ts [--quick] [--json]
 *
 * @module
 */
import { parseArgs } from "node:util";
import { DEVICES, pciAddress } from "../lib/lab/devices.ts";
import { median } from "./guest/parse.ts";
import type { ScalingRecord } from "./guest/scaling.ts";
import { runInLab } from "../lib/lab/vm.ts";

const REPO = new URL("../", import.meta.url).pathname;
const addressOf = (name: string) => pciAddress(DEVICES[name]!.slot);

/** Every record and the boot's facts. */
export interface LabScalingResult {
  accel: string;
  bootMs: number;
  rounds: number;
  records: ScalingRecord[];
  error?: string;
}

/** Boots the lab and runs the scaling cases. */
export async function benchLabScaling(
  o: { quick?: boolean; log?: (line: string) => void } = {},
): Promise<LabScalingResult> {
  const rounds = o.quick ? 1 : 2;
  const command = [
    "deno",
    "run",
    "-A",
    "--no-check",
    `${REPO}bench/guest/scaling.ts`,
    "--mq",
    addressOf("net-mq-a"),
    "--nics",
    `${addressOf("net-modern")},${addressOf("net-packed")}`,
    "--rounds",
    String(rounds),
    "--seconds",
    o.quick ? "4" : "8",
  ];
  const lab = await runInLab({
    devices: "mq,net",
    command,
    memoryMiB: 2048,
    hugepages: 384,
    timeoutMs: 20 * 60_000,
    onConsole: (l) => {
      if (l.startsWith("bench:")) o.log?.(l);
    },
  });
  const records = lab.stdout.split("\n").filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as ScalingRecord);
  return {
    accel: lab.accel,
    bootMs: lab.bootMs,
    rounds,
    records,
    ...(lab.code !== 0 ? { error: `guest exit ${lab.code}` } : {}),
  };
}

/** The table: per case the median over rounds, and what the second core did to the sum. */
export function labScalingText(r: LabScalingResult): string {
  const pick = (group: string, c: string, device?: string) =>
    r.records.filter((x) => x.group === group && x.case === c && (!device || x.device === device))
      .filter((x) => Number.isFinite(x.mpps));
  const mpps = (xs: ScalingRecord[]) => xs.length ? median(xs.map((x) => x.mpps)) : NaN;
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : "fail").padStart(7);
  const lines = [
    `what scales, 64 B transmit, Mpps (lab ${r.accel}, median over ${r.rounds} round(s))`,
    "queue pairs on one NIC (net-mq-a: tap backend, QEMU's virtio-net, one JS loop):",
  ];
  for (const c of ["1 pair", "2 pairs", "4 pairs"]) {
    lines.push(`  ${c.padEnd(9)} ${f(mpps(pick("queues", c)))}`);
  }
  lines.push("a second core (one process per NIC, each pinned to its own vCPU):");
  let together = 0;
  for (
    const [name, device] of [["net-modern", addressOf("net-modern")], [
      "net-packed",
      addressOf("net-packed"),
    ]]
  ) {
    const t = mpps(pick("cores", "together", device));
    together += t;
    lines.push(
      `  ${name!.padEnd(10)} alone ${f(mpps(pick("cores", "alone", device)))}   together ${f(t)}`,
    );
  }
  lines.push(`  together, both NICs: ${f(together)}`);
  for (const x of r.records.filter((x) => x.error)) {
    lines.push(`  failed: ${x.group} ${x.case} ${x.device} round ${x.round}: ${x.error}`);
  }
  if (r.error) lines.push(`  ${r.error}`);
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: { quick: { type: "boolean", default: false }, json: { type: "boolean" } },
  });
  const r = await benchLabScaling({ quick: values.quick, log: (l) => console.error(l) });
  console.log(values.json ? JSON.stringify(r, null, 2) : labScalingText(r));
}
