/**
 * SVG charts with no dependencies: line charts of one or more panels sharing a time axis
 * (`--plot`: tx/rx rate, and latency in loopback mode) and grouped bar charts (the
 * benchmark comparing tools). Output is a standalone SVG string any browser renders.
 *
 * @module
 */
import type { IntervalSnapshot } from "./stats.ts";

/** One line: points (x, y); NaN y values leave a gap. */
export interface Series {
  /** Legend name. */
  name: string;
  /** The (x, y) points, in x order. */
  points: ReadonlyArray<readonly [number, number]>;
  /** SVG colour; default: the next palette colour. */
  color?: string;
  /** Draw the line dashed. */
  dashed?: boolean;
}

/** A panel: one y axis and its lines. */
export interface Panel {
  /** Label of the y axis. */
  yLabel: string;
  /** The lines drawn in this panel. */
  series: Series[];
  /** Formats a y tick value (default: SI-compact, `1.5M`). */
  yFormat?: (v: number) => string;
}

/** A line chart: panels stacked over one shared x axis. */
export interface LineChart {
  /** Chart title. */
  title: string;
  /** Label of the shared x axis. */
  xLabel: string;
  /** Panels, top to bottom. */
  panels: Panel[];
  /** SVG width in pixels (default 900). */
  width?: number;
  /** Height of each panel's plot area. */
  panelHeight?: number;
}

/** Colour-blind-safe palette (Okabe–Ito). */
export const PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"];

const FONT = `font-family="system-ui, -apple-system, 'Segoe UI', sans-serif"`;

/** Escapes text for SVG content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** A compact SI label: 1500000 → "1.5M", 0.00002 → "20µ". */
export function compactSI(v: number): string {
  if (v === 0) return "0";
  const a = Math.abs(v);
  const units: [number, string][] = [
    [1e12, "T"],
    [1e9, "G"],
    [1e6, "M"],
    [1e3, "k"],
    [1, ""],
    [1e-3, "m"],
    [1e-6, "µ"],
    [1e-9, "n"],
  ];
  const [d, p] = units.find(([d]) => a >= d) ?? [1e-9, "n"];
  return `${+(v / d).toPrecision(3)}${p}`;
}

/** Tick positions from 0 (or min) to max at a 1/2/5 × 10^k step, about `target` of them. */
export function niceTicks(min: number, max: number, target = 5): number[] {
  if (!(max > min)) max = min + 1;
  const raw = (max - min) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const ticks: number[] = [];
  for (let t = Math.floor(min / step) * step; t <= max + step * 1e-9; t += step) {
    ticks.push(+t.toPrecision(12));
  }
  if (ticks[ticks.length - 1]! < max) {
    ticks.push(+(ticks[ticks.length - 1]! + step).toPrecision(12));
  }
  return ticks;
}

function text(x: number, y: number, s: string, attrs = ""): string {
  return `<text x="${x.toFixed(1)}" y="${y.toFixed(1)}" ${attrs}>${escapeXml(s)}</text>`;
}

/** Renders a multi-panel line chart sharing the x axis. */
export function lineChartSvg(chart: LineChart): string {
  const width = chart.width ?? 900;
  const ph = chart.panelHeight ?? 200;
  const m = { left: 80, right: 24, top: 64, gap: 56, bottom: 56 };
  const pw = width - m.left - m.right;
  const height = m.top + chart.panels.length * ph + (chart.panels.length - 1) * m.gap + m.bottom;
  let xMin = Infinity, xMax = -Infinity;
  for (const p of chart.panels) {
    for (const s of p.series) {
      for (const [x] of s.points) (xMin = Math.min(xMin, x)), (xMax = Math.max(xMax, x));
    }
  }
  if (!Number.isFinite(xMin)) (xMin = 0), (xMax = 1);
  const xt = niceTicks(xMin, xMax, 8);
  const x0 = xt[0]!, x1 = xt[xt.length - 1]!;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    text(width / 2, 26, chart.title, `text-anchor="middle" font-size="16" font-weight="600"`),
  ];
  let colour = 0;
  chart.panels.forEach((panel, pi) => {
    const top = m.top + pi * (ph + m.gap);
    let yMax = 0;
    for (const s of panel.series) for (const [, y] of s.points) if (y > yMax) yMax = y;
    const yt = niceTicks(0, yMax * 1.05, 5); // headroom: a flat line at max stays visible
    const y1 = yt[yt.length - 1]!;
    const sy = (y: number) => top + ph - (y / y1) * ph;
    const fmt = panel.yFormat ?? compactSI;
    for (const t of yt) {
      const y = sy(t);
      out.push(
        `<line x1="${m.left}" x2="${m.left + pw}" y1="${y.toFixed(1)}" y2="${y.toFixed(1)}" ` +
          `stroke="#e5e5e5"/>`,
        text(m.left - 8, y + 4, fmt(t), `text-anchor="end" fill="#444"`),
      );
    }
    for (const t of xt) {
      const x = sx(t);
      out.push(
        `<line x1="${x.toFixed(1)}" x2="${x.toFixed(1)}" y1="${top}" y2="${top + ph}" ` +
          `stroke="#f0f0f0"/>`,
        text(x, top + ph + 18, compactSI(t), `text-anchor="middle" fill="#444"`),
      );
    }
    out.push(
      `<rect x="${m.left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`,
      text(
        18,
        top + ph / 2,
        panel.yLabel,
        `transform="rotate(-90 18 ${top + ph / 2})" ` +
          `text-anchor="middle" fill="#222"`,
      ),
    );
    let legendX = m.left + 8;
    for (const s of panel.series) {
      const c = s.color ?? PALETTE[colour++ % PALETTE.length]!;
      const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
      let d = "", pen = "M";
      for (const [x, y] of s.points) {
        if (!Number.isFinite(y)) {
          pen = "M";
          continue;
        }
        d += `${pen}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`;
        pen = "L";
      }
      if (d) {
        out.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"${dash}/>`);
      }
      out.push(
        `<line x1="${legendX}" x2="${legendX + 22}" y1="${top - 10}" y2="${top - 10}" ` +
          `stroke="${c}" stroke-width="3"${dash}/>`,
        text(legendX + 28, top - 6, s.name, `fill="#222"`),
      );
      legendX += 44 + s.name.length * 7;
    }
  });
  out.push(text(m.left + pw / 2, height - 14, chart.xLabel, `text-anchor="middle" fill="#222"`));
  out.push("</svg>");
  return out.join("\n");
}

/** Bars grouped by category (e.g. frame size), one bar per series (e.g. tool). */
export interface BarChart {
  /** Chart title. */
  title: string;
  /** Label of the y axis. */
  yLabel: string;
  /** Category labels along the x axis. */
  categories: string[];
  /** One bar per category from each series; colour defaults to the palette. */
  series: { name: string; values: number[]; color?: string }[];
  /** Formats the value printed above each bar (default compact SI). */
  valueFormat?: (v: number) => string;
  /** SVG width in pixels (default 900). */
  width?: number;
  /** SVG height in pixels (default 500). */
  height?: number;
}

/** Renders a grouped bar chart with value labels and a legend. */
export function barChartSvg(chart: BarChart): string {
  const width = chart.width ?? 900, height = chart.height ?? 500;
  const m = { left: 80, right: 24, top: 76, bottom: 56 };
  const pw = width - m.left - m.right, ph = height - m.top - m.bottom;
  const all = chart.series.flatMap((s) => s.values.filter(Number.isFinite));
  const yt = niceTicks(0, Math.max(0, ...all) * 1.05, 5); // room for the value labels
  const y1 = yt[yt.length - 1]!;
  const sy = (v: number) => m.top + ph - (v / y1) * ph;
  const fmt = chart.valueFormat ?? compactSI;
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
    `viewBox="0 0 ${width} ${height}" ${FONT} font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    text(width / 2, 26, chart.title, `text-anchor="middle" font-size="16" font-weight="600"`),
  ];
  for (const t of yt) {
    const y = sy(t).toFixed(1);
    out.push(
      `<line x1="${m.left}" x2="${m.left + pw}" y1="${y}" y2="${y}" stroke="#e5e5e5"/>`,
      text(m.left - 8, +y + 4, compactSI(t), `text-anchor="end" fill="#444"`),
    );
  }
  const groupW = pw / Math.max(1, chart.categories.length);
  const barW = (groupW * 0.8) / Math.max(1, chart.series.length);
  chart.categories.forEach((cat, ci) => {
    const gx = m.left + ci * groupW + groupW * 0.1;
    chart.series.forEach((s, si) => {
      const v = s.values[ci];
      if (v === undefined || !Number.isFinite(v)) return;
      const c = s.color ?? PALETTE[si % PALETTE.length]!;
      const x = gx + si * barW, y = sy(v);
      out.push(
        `<rect x="${(x + 2).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 4).toFixed(1)}" ` +
          `height="${(m.top + ph - y).toFixed(1)}" fill="${c}"/>`,
        text(x + barW / 2, y - 5, fmt(v), `text-anchor="middle" fill="#222"`),
      );
    });
    out.push(text(gx + groupW * 0.4, m.top + ph + 20, cat, `text-anchor="middle" fill="#222"`));
  });
  out.push(
    `<line x1="${m.left}" x2="${m.left + pw}" y1="${m.top + ph}" y2="${m.top + ph}" ` +
      `stroke="#999"/>`,
    text(
      18,
      m.top + ph / 2,
      chart.yLabel,
      `transform="rotate(-90 18 ${m.top + ph / 2})" ` +
        `text-anchor="middle" fill="#222"`,
    ),
  );
  let lx = m.left;
  chart.series.forEach((s, si) => {
    const c = s.color ?? PALETTE[si % PALETTE.length]!;
    out.push(
      `<rect x="${lx}" y="44" width="14" height="14" fill="${c}"/>`,
      text(lx + 20, 56, s.name, `fill="#222"`),
    );
    lx += 40 + s.name.length * 7;
  });
  out.push("</svg>");
  return out.join("\n");
}

/**
 * The `--plot` picture of a run: tx/rx packet rate over time, and — when any interval has
 * latency (loopback) — p50/p99/max latency below it.
 */
export function runChartSvg(title: string, snapshots: readonly IntervalSnapshot[]): string {
  const panels: Panel[] = [{
    yLabel: "packets/s",
    series: [
      { name: "tx", points: snapshots.map((s) => [s.t, s.tx.pps] as const) },
      { name: "rx", points: snapshots.map((s) => [s.t, s.rx.pps] as const) },
    ],
  }];
  if (snapshots.some((s) => s.latency)) {
    const lat = (f: (l: NonNullable<IntervalSnapshot["latency"]>) => number) =>
      snapshots.map((s) => [s.t, s.latency ? f(s.latency) / 1e3 : NaN] as const);
    panels.push({
      yLabel: "latency (µs)",
      series: [
        { name: "p50", points: lat((l) => l.p50Ns), color: PALETTE[2] },
        { name: "p99", points: lat((l) => l.p99Ns), color: PALETTE[3] },
        { name: "max", points: lat((l) => l.maxNs), color: PALETTE[4], dashed: true },
      ],
    });
  }
  return lineChartSvg({ title, xLabel: "time (s)", panels });
}
