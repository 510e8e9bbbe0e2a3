/**
 * The layer check `deno task check` runs: every relative import in lib/, commands/ and testing/
 * must point down the layer table (or stay inside its own layer), and no file may take part in an
 * import circle.
 *
 * The table is read from README.md, between `<!-- layers -->` and `<!-- /layers -->`, so the
 * document and the check cannot drift apart. Each row is `| rank | layer | where | … |`; `where`
 * lists the directories or files of that layer in backticks. A file may import:
 * - a file of its own unit (the same directory, e.g. `lib/queue/`, or the same file),
 * - any unit of a row with a lower rank.
 * Units that share a rank may not import each other.
 *
 * Usage: `deno run --allow-read scripts/check_layers.ts [root]` (root defaults to the cwd).
 * Exit 0 clean, 1 with one line per problem on stderr.
 *
 * @module
 */

/** One unit of the table: a directory (ends in `/`) or a file, with its rank. */
export interface LayerUnit {
  path: string;
  rank: number;
  layer: string;
}

/** Parses the layer table out of a markdown text (README.md's architecture section). */
export function parseLayerTable(markdown: string): LayerUnit[] {
  const start = markdown.indexOf("<!-- layers -->");
  const end = markdown.indexOf("<!-- /layers -->");
  if (start < 0 || end < start) throw new Error("no <!-- layers --> … <!-- /layers --> block");
  const units: LayerUnit[] = [];
  for (const line of markdown.slice(start, end).split("\n")) {
    const cells = line.split("|").map((c) => c.trim());
    // "| 3 | PCI | `lib/pci/` | … |" → ["", "3", "PCI", "`lib/pci/`", …]
    if (cells.length < 4 || !/^\d+$/.test(cells[1]!)) continue;
    const rank = Number(cells[1]);
    for (const m of cells[3]!.matchAll(/`([^`]+)`/g)) {
      units.push({ path: m[1]!, rank, layer: cells[2]! });
    }
  }
  if (units.length === 0) throw new Error("the layer table has no rows");
  return units;
}

/** The relative imports of one TypeScript source (static, re-exports, dynamic); not comments. */
export function importsOf(source: string): string[] {
  const out: string[] = [];
  // Statements start a line; doc examples sit behind " * " and are skipped.
  const statement = /^(?:import|export)\b[^;"]*?(?:from\s*)?"(\.{1,2}\/[^"]+)"/gm;
  for (const m of source.matchAll(statement)) out.push(m[1]!);
  for (const m of source.matchAll(/^[^*/\n]*\bimport\(\s*"(\.{1,2}\/[^"]+)"\s*\)/gm)) {
    out.push(m[1]!);
  }
  return out;
}

/** Resolves `spec` imported from `from` (both root-relative, "/"-separated). */
export function resolveImport(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const p of spec.split("/")) {
    if (p === "..") parts.pop();
    else if (p !== ".") parts.push(p);
  }
  return parts.join("/");
}

/** The table unit a file belongs to: the longest matching path. */
export function unitOf(file: string, units: LayerUnit[]): LayerUnit | undefined {
  let best: LayerUnit | undefined;
  for (const u of units) {
    const hit = u.path.endsWith("/") ? file.startsWith(u.path) : file === u.path;
    if (hit && (!best || u.path.length > best.path.length)) best = u;
  }
  return best;
}

/** Every problem of a graph (file → the files it imports) against the table; empty = clean. */
export function checkLayers(graph: Map<string, string[]>, units: LayerUnit[]): string[] {
  const problems: string[] = [];
  for (const [file, targets] of graph) {
    const from = unitOf(file, units);
    if (!from) {
      problems.push(`${file}: in no layer of the table`);
      continue;
    }
    for (const target of targets) {
      const to = unitOf(target, units);
      if (!to) {
        if (graph.has(target) || !/^(lib|commands|testing)\//.test(target)) continue;
        problems.push(`${file} imports ${target}, which is in no layer`);
      } else if (to.path !== from.path && to.rank >= from.rank) {
        const how = to.rank === from.rank ? "a peer" : "upward";
        problems.push(
          `${file} (${from.layer}, rank ${from.rank}) imports ${target} ` +
            `(${to.layer}, rank ${to.rank}): ${how} import`,
        );
      }
    }
  }
  for (const circle of importCircles(graph)) {
    problems.push(`import circle: ${[...circle, circle[0]].join(" → ")}`);
  }
  return problems;
}

/** The strongly connected components with more than one file (or a self-import), Tarjan. */
export function importCircles(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const circles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        scc.push(w);
      } while (w !== v);
      if (scc.length > 1 || (graph.get(v) ?? []).includes(v)) circles.push(scc.reverse());
    }
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return circles;
}

/** Reads every .ts file under `dirs` of `root` into an import graph (root-relative paths). */
export function readGraph(root: string, dirs: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(`${root}/${dir}`)];
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) return;
      throw e;
    }
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory) walk(path);
      else if (e.isFile && path.endsWith(".ts")) {
        const text = Deno.readTextFileSync(`${root}/${path}`);
        graph.set(path, [...new Set(importsOf(text).map((s) => resolveImport(path, s)))]);
      }
    }
  };
  for (const d of dirs) walk(d);
  return graph;
}

/**
 * Problems known when the check was written, each to be removed by the change that fixes it
 * (issue 20); a problem listed here that no longer occurs is itself reported, so the list shrinks.
 */
export const KNOWN: readonly string[] = [];

/** The whole check for a checkout at `root`: README's table against lib/, commands/, testing/. */
export function checkTree(root: string, known: readonly string[] = []): string[] {
  const units = parseLayerTable(Deno.readTextFileSync(`${root}/README.md`));
  const problems = checkLayers(readGraph(root, ["lib", "commands", "testing"]), units);
  const stale = known.filter((k) => !problems.includes(k)).map((k) =>
    `fixed, drop from KNOWN: ${k}`
  );
  return [...problems.filter((p) => !known.includes(p)), ...stale];
}

if (import.meta.main) {
  const problems = checkTree(Deno.args[0] ?? ".", KNOWN);
  for (const p of problems) console.error(`layers: ${p}`);
  if (problems.length > 0) Deno.exit(1);
}
