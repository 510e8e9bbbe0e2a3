/**
 * Rendering a pktgen run: the live line (stderr), the final text summary, and the JSON
 * documents of docs/pktgen-json.md (schema `virtio-pktgen/1`).
 *
 * @module
 */
import { formatBps, formatLiveLine, formatNs, formatPps, type IntervalSnapshot } from "../stats.ts";
import { paint } from "../../ansi.ts";
import type { SessionResult } from "./session.ts";
import { PACER_BURST_NS, PAUSE_NS } from "./engine.ts";

export const PKTGEN_SCHEMA = "virtio-pktgen/1";

/** The live line with a progress figure for bounded runs. */
export function liveLine(snap: IntervalSnapshot, progress: number | undefined): string {
  const line = formatLiveLine(snap);
  return progress === undefined ? line : `${line} | ${(progress * 100).toFixed(0).padStart(3)}%`;
}

/** One `--json --interval` line. */
export function intervalJson(snap: IntervalSnapshot): string {
  return JSON.stringify({ schema: PKTGEN_SCHEMA, type: "interval", ...snap });
}

/** The final JSON document (one line). NaN latencies become null. */
export function summaryJson(r: SessionResult): string {
  const doc = {
    schema: PKTGEN_SCHEMA,
    type: "summary",
    mode: r.mode,
    ok: r.expectations.met,
    failures: r.expectations.failures,
    stopReason: r.stopReason,
    error: r.error ?? null,
    tx: r.tx,
    rx: r.rx,
    flows: r.flows,
    rate: r.rate,
    cpu: r.cpu,
    sent: r.sent,
    summary: r.summary,
    linkEvents: r.linkEvents,
    maxPauseNs: r.maxPauseNs,
    pausedNs: r.pausedNs,
  };
  return JSON.stringify(doc, (_k, v) => (typeof v === "number" && !Number.isFinite(v) ? null : v));
}

const STOP_TEXT: Record<SessionResult["stopReason"], string> = {
  count: "count reached",
  duration: "duration reached",
  signal: "interrupted",
  error: "device error",
};

/** The human summary for stdout. */
export function summaryText(r: SessionResult, color = false): string {
  const s = r.summary;
  const red = (t: string) => paint(color, "red", t);
  const lines: string[] = [];
  const dev = (d: SessionResult["tx"]) =>
    d ? `${d.address} (${d.transport}, ${d.format} ring, ${d.access}, mac ${d.mac ?? "-"})` : "";
  lines.push(`pktgen ${r.mode}: ${s.seconds.toFixed(2)} s, ${STOP_TEXT[r.stopReason]}`);
  if (r.tx) lines.push(`  tx device  ${dev(r.tx)}`);
  if (r.rx) lines.push(`  rx device  ${dev(r.rx)}`);
  if (r.flows) {
    const f = r.flows;
    lines.push(
      `  frames     IPv${f.ipVersion} UDP, sizes ${f.sizes}${r.rate ? `, rate ${r.rate}` : ""}`,
    );
    lines.push(
      `  addresses  ${f.srcMac} → ${f.dstMac}  ${f.srcIp}:${f.srcPort} → ${f.dstIp}:${f.dstPort}`,
    );
  }
  if (r.tx) {
    lines.push(
      `  tx         ${s.tx.packets} packets, ${s.tx.bytes} bytes, ${formatPps(s.tx.pps)}, ${
        formatBps(s.tx.bps)
      }`,
    );
  }
  if (r.tx && r.tx.queues.length > 1) {
    lines.push(`  tx queues  ${r.tx.queues.map((q) => q.tx).join(" / ")} frames`);
  }
  if (r.rx) {
    lines.push(
      `  rx         ${s.rx.packets} packets, ${s.rx.bytes} bytes, ${formatPps(s.rx.pps)}, ${
        formatBps(s.rx.bps)
      }`,
    );
    if (r.rx.queues.length > 1) {
      lines.push(`  rx queues  ${r.rx.queues.map((q) => q.rx).join(" / ")} frames`);
    }
    const kinds = Object.entries(s.rx.errorsByKind).map(([k, n]) => `${k} ${n}`).join(", ");
    lines.push(`  rx errors  ${s.rx.errors}${kinds ? ` (${kinds})` : ""}`);
    const loss = `${s.rx.lost} lost (${(s.rx.lossRatio * 100).toFixed(3)}%)`;
    lines.push(
      `  sequence   ${s.rx.unique} unique, ${
        s.rx.lost > 0 ? red(loss) : loss
      }, ${s.rx.duplicates} duplicates, ${s.rx.reordered} reordered, ${s.rx.late} late, ${s.rx.flows} flow(s)`,
    );
  }
  if (s.latency) {
    const l = s.latency;
    lines.push(
      `  latency    min ${formatNs(l.minNs)} avg ${formatNs(l.avgNs)} p50 ${
        formatNs(l.p50Ns)
      } p99 ${formatNs(l.p99Ns)} max ${formatNs(l.maxNs)} (${l.count} samples)`,
    );
  }
  const pausedShare = s.seconds > 0 ? r.pausedNs / (s.seconds * 1e9) : 0;
  if (r.maxPauseNs > 50e6 || pausedShare > 0.05) {
    lines.push(
      `  loop       paused ${(pausedShare * 100).toFixed(0)}% of the run in gaps over ${
        formatNs(PAUSE_NS)
      }, up to ${formatNs(r.maxPauseNs)} at a time (the JIT warming up, GC or a busy host)${
        r.rate && r.maxPauseNs > PACER_BURST_NS ? `: longer than the pacer catches up on` : ""
      }`,
    );
  }
  for (const e of r.linkEvents) {
    lines.push(`  link       ${e.device} ${e.up ? "up" : "down"} at ${e.t.toFixed(1)} s`);
  }
  if (r.expectations.met) lines.push(`  result     ${paint(color, "green", "ok")}`);
  else {
    for (const f of r.expectations.failures) {
      lines.push(`  result     ${red(`FAILED: ${f}`)}`);
    }
  }
  return lines.join("\n") + "\n";
}
