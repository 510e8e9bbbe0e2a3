/**
 * `virtio diag` output: a table for people, one JSON line per device (`--jsonl`), and JUnit
 * XML (`--junit`) so CI systems show each check as a test case.
 *
 * @module
 */
import { paint, type Style } from "../ansi.ts";
import { type CheckStatus, type DeviceDiagnosis, DIAG_SCHEMA, type DiagReport } from "./report.ts";

const COLORS: Record<CheckStatus, Style> = {
  pass: "green",
  warn: "yellow",
  fail: "red",
  skip: "dim",
};

/** The human-readable table; colour only when `color`. */
export function renderDiagText(report: DiagReport, options: { color: boolean }): string {
  const painted = (s: CheckStatus | "pass" | "warn" | "fail", text: string): string =>
    paint(options.color, COLORS[s], text);
  const width = Math.max(
    16,
    ...report.devices.flatMap((d) => d.checks.map((c) => c.name.length)),
  );
  const lines: string[] = [];
  for (const d of report.devices) {
    const head = `${d.address}  ${d.type} (${d.kind}${d.driver ? `, ${d.driver}` : ""})`;
    lines.push(`${head}  ${painted(d.verdict, d.verdict.toUpperCase())}`);
    for (const c of d.checks) {
      const ms = c.ms === undefined ? "" : ` [${c.ms} ms]`;
      lines.push(
        `  ${painted(c.status, c.status.padEnd(4))}  ${c.name.padEnd(width)}  ${c.reason}${ms}`,
      );
    }
    lines.push("");
  }
  const s = report.summary;
  lines.push(
    `${s.devices} device${s.devices === 1 ? "" : "s"}: ${s.pass} pass, ${s.warn} warn, ` +
      `${s.fail} fail, ${s.skip} skip — ${
        report.ok ? painted("pass", "OK") : painted("fail", "FAILED")
      }`,
  );
  return lines.join("\n") + "\n";
}

/** One JSON line for one device (`--jsonl`): the schema, then the device's fields. */
export function renderDiagJsonLine(device: DeviceDiagnosis): string {
  return JSON.stringify({ schema: DIAG_SCHEMA, ...device }) + "\n";
}

/** Escapes text for XML attributes and content; drops characters XML 1.0 forbids. */
export function xmlEscape(text: string): string {
  return text
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]/g, "")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

/**
 * JUnit XML: one `<testsuite>` per device, one `<testcase>` per check; fail → `<failure>`,
 * skip → `<skipped/>`, warn passes with the reason in `<system-out>`.
 */
export function renderJUnit(report: DiagReport, hostname = "localhost"): string {
  const x = xmlEscape;
  const secs = (ms?: number) => ((ms ?? 0) / 1000).toFixed(3);
  const s = report.summary;
  const total = s.pass + s.warn + s.fail + s.skip;
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="virtio diag" tests="${total}" failures="${s.fail}" errors="0" skipped="${s.skip}">`,
  ];
  for (const d of report.devices) {
    const count = (st: CheckStatus) => d.checks.filter((c) => c.status === st).length;
    const time = d.checks.reduce((t, c) => t + (c.ms ?? 0), 0);
    out.push(
      `  <testsuite name="${x(`${d.address} ${d.type}`)}" hostname="${x(hostname)}" ` +
        `tests="${d.checks.length}" failures="${count("fail")}" errors="0" ` +
        `skipped="${count("skip")}" time="${secs(time)}">`,
    );
    for (const c of d.checks) {
      const open = `    <testcase classname="${x(`virtio.${d.address}`)}" name="${x(c.name)}" ` +
        `time="${secs(c.ms)}"`;
      if (c.status === "pass") {
        out.push(`${open}/>`);
      } else if (c.status === "warn") {
        out.push(
          `${open}>`,
          `      <system-out>${x(`warn: ${c.reason}`)}</system-out>`,
          `    </testcase>`,
        );
      } else if (c.status === "skip") {
        out.push(`${open}>`, `      <skipped message="${x(c.reason)}"/>`, `    </testcase>`);
      } else {
        out.push(
          `${open}>`,
          `      <failure message="${x(c.reason)}" type="${x(c.name)}">${x(c.reason)}</failure>`,
          `    </testcase>`,
        );
      }
    }
    out.push(`  </testsuite>`);
  }
  out.push(`</testsuites>`);
  return out.join("\n") + "\n";
}
