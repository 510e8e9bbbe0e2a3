/**
 * Renderers of a `virtio-conform/1` report: a text table (one line per requirement), JSON
 * and JUnit XML (one testcase per check, `failure` / `skipped` elements).
 *
 * @module
 */
import { paint, type Style } from "../ansi.ts";
import { xmlEscape } from "../diag/render.ts";
import type { Check } from "./check.ts";
import type { ConformReport, ConformResult } from "./run.ts";

const LABEL: Record<ConformResult["verdict"], string> = {
  pass: "PASS",
  fail: "FAIL",
  na: "N/A ",
  skip: "SKIP",
};

const STYLE: Record<ConformResult["verdict"], Style> = {
  pass: "green",
  fail: "red",
  na: "dim",
  skip: "yellow",
};

/**
 * One line per requirement: verdict, id, §section, requirement; seen vs expected under a fail.
 * `color` paints the verdicts (a terminal without NO_COLOR: the command passes `io.color`).
 */
export function renderConformText(
  report: ConformReport,
  options: { color?: boolean } = {},
): string {
  const color = options.color ?? false;
  const d = report.device;
  const lines = [
    `${d.address}: virtio-${d.typeName} (type ${d.type}), ${d.transport} transport, features ${d.features}`,
  ];
  const idWidth = Math.max(0, ...report.results.map((r) => r.id.length));
  for (const r of report.results) {
    const sec = `§${r.section}`.padEnd(11);
    const label = paint(color, STYLE[r.verdict], LABEL[r.verdict]);
    lines.push(`${label}  ${r.id.padEnd(idWidth)}  ${sec} ${r.requirement}`);
    if (r.verdict === "fail") {
      lines.push(`      seen: ${r.seen ?? "?"}; expected: ${r.expected ?? "?"}`);
    }
    if (r.detail && r.verdict !== "pass") lines.push(`      ${r.detail}`);
  }
  const s = report.summary;
  lines.push(`${s.pass} pass, ${s.fail} fail, ${s.na} not applicable, ${s.skip} skipped`);
  return lines.join("\n") + "\n";
}

/** The report as indented JSON. */
export function renderConformJson(report: ConformReport): string {
  return JSON.stringify(report, null, 2) + "\n";
}

const xml = xmlEscape;

/** JUnit XML: one testsuite for the device, one testcase per check. */
export function renderConformJUnit(report: ConformReport): string {
  const d = report.device;
  const s = report.summary;
  const out = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="virtio conform" tests="${report.results.length}" failures="${s.fail}" skipped="${
      s.na + s.skip
    }">`,
    `  <testsuite name="${
      xml(`${d.address} virtio-${d.typeName}`)
    }" tests="${report.results.length}" failures="${s.fail}" skipped="${s.na + s.skip}">`,
  ];
  for (const r of report.results) {
    const head = `    <testcase classname="${xml(r.id.split(".")[0] ?? r.id)}" name="${
      xml(`${r.id} §${r.section}`)
    }"`;
    if (r.verdict === "pass") out.push(`${head}/>`);
    else if (r.verdict === "fail") {
      const msg = `seen: ${r.seen ?? "?"}; expected: ${r.expected ?? "?"}`;
      out.push(
        `${head}>`,
        `      <failure message="${xml(msg)}">${xml(`${r.requirement}\n${msg}`)}</failure>`,
        `    </testcase>`,
      );
    } else {
      const why = r.verdict === "na" ? `not applicable: ${r.detail ?? ""}` : r.detail ?? "skipped";
      out.push(`${head}>`, `      <skipped message="${xml(why)}"/>`, `    </testcase>`);
    }
  }
  out.push(`  </testsuite>`, `</testsuites>`);
  return out.join("\n") + "\n";
}

/** `--list`: every check with its section and requirement, and the count. */
export function renderCheckList(checks: readonly Check[]): string {
  const w = Math.max(0, ...checks.map((c) => c.id.length));
  const lines = checks.map((c) => `${c.id.padEnd(w)}  §${c.section.padEnd(10)} ${c.requirement}`);
  lines.push(`${checks.length} checks`);
  return lines.join("\n") + "\n";
}
