/**
 * Wall time of probing every virtio device:
 * - on the host, `probeAll` and each device's `probeDevice` over the recorded host tree
 *   (tests/fixtures/host/sys: sysfs files and config space, no BAR access), N iterations;
 * - in the lab guest with the `probe` device set, `virtio probe --json` as a user runs it
 *   and `probeAll` in-process with read-only BARs (bench/guest/probe_time.ts), boot excluded.
 *
 * Standalone: `deno run -A bench/probe_bench.ts [--quick] [--json] [--no-lab]`
 *
 * @module
 */
import { parseArgs } from "node:util";
import { probeAll, probeDevice } from "../lib/probe/probe.ts";
import { runInLab } from "../lib/lab/vm.ts";

const REPO = new URL("../", import.meta.url).pathname;
export const FIXTURE_SYSFS = `${REPO}tests/fixtures/host/sys`;

export interface ProbeHostResult {
  iterations: number;
  devices: number;
  /** Mean ms of one probeAll over the fixture tree. */
  allMs: number;
  /** Mean ms of probeDevice per device address. */
  perDeviceMs: Record<string, number>;
}

export interface ProbeGuestResult {
  devices: number;
  /** Each `virtio probe --json` run in the guest, Deno start-up included. */
  cliMs: number[];
  /** Mean ms of one in-process probeAll over the guest's real devices. */
  inProcessMs: number;
  iterations: number;
  bootMs: number;
}

function meanMs(iterations: number, f: () => void): number {
  f(); // warm-up
  const t0 = performance.now();
  for (let i = 0; i < iterations; i++) f();
  return (performance.now() - t0) / iterations;
}

/** probeAll / probeDevice over the recorded host sysfs tree. */
export function benchProbeHost(iterations = 200): ProbeHostResult {
  const opts = { sysfsRoot: FIXTURE_SYSFS };
  const report = probeAll(opts);
  const perDeviceMs: Record<string, number> = {};
  for (const d of report.devices) {
    perDeviceMs[d.address] = meanMs(iterations, () => probeDevice(d.address, opts));
  }
  return {
    iterations,
    devices: report.devices.length,
    allMs: meanMs(iterations, () => probeAll(opts)),
    perDeviceMs,
  };
}

/** Boots the lab with the probe device set and times probing inside it. */
export async function benchProbeGuest(quick = false): Promise<ProbeGuestResult> {
  const lab = await runInLab({
    devices: "probe",
    command: [
      "deno",
      "run",
      "-A",
      "--no-check",
      `${REPO}bench/guest/probe_time.ts`,
      "--runs",
      quick ? "2" : "4",
      "--iterations",
      quick ? "5" : "20",
    ],
    timeoutMs: 240_000,
  });
  const line = lab.stdout.split("\n").find((l) => l.includes('"probe-guest"'));
  if (lab.code !== 0 || !line) {
    throw new Error(
      `guest probe timing failed (exit ${lab.code}): ${lab.console.split("\n").slice(-5)}`,
    );
  }
  const r = JSON.parse(line);
  return {
    devices: r.devices,
    cliMs: r.cliMs,
    inProcessMs: r.inProcessMs,
    iterations: r.iterations,
    bootMs: lab.bootMs,
  };
}

export function probeText(host?: ProbeHostResult, guest?: ProbeGuestResult | string): string {
  const lines: string[] = [];
  if (host) {
    lines.push(
      `probe on the host over tests/fixtures/host/sys (${host.devices} devices, mean of ` +
        `${host.iterations}): probeAll ${host.allMs.toFixed(3)} ms`,
    );
    for (const [a, ms] of Object.entries(host.perDeviceMs)) {
      lines.push(`  probeDevice ${a}  ${ms.toFixed(3)} ms`);
    }
  }
  if (typeof guest === "string") lines.push(`probe in the lab guest: not measured: ${guest}`);
  else if (guest) {
    const cli = guest.cliMs.map((m) => (m / 1000).toFixed(2)).join(", ");
    lines.push(
      `probe in the lab guest (probe set, ${guest.devices} devices, TCG, boot ` +
        `${(guest.bootMs / 1000).toFixed(1)} s excluded):`,
      `  virtio probe --json (new process each): ${cli} s`,
      `  probeAll in-process, read-only BARs (mean of ${guest.iterations}): ` +
        `${guest.inProcessMs.toFixed(1)} ms`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      quick: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
      "no-lab": { type: "boolean", default: false },
    },
  });
  const host = benchProbeHost(values.quick ? 50 : 200);
  const guest = values["no-lab"] ? undefined : await benchProbeGuest(values.quick);
  console.log(values.json ? JSON.stringify({ host, guest }) : probeText(host, guest));
}
