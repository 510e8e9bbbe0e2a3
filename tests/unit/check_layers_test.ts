/** The layer check (scripts/check_layers.ts) on tiny fake trees, and on this checkout. */
import assert from "node:assert/strict";
import {
  checkTree,
  importsOf,
  KNOWN,
  parseLayerTable,
  resolveImport,
} from "../../scripts/check_layers.ts";

const TABLE = `
<!-- layers -->
| rank | layer | where |
| ---- | ----- | ----- |
| 0 | base | \`lib/base.ts\` |
| 1 | low | \`lib/low/\` |
| 2 | high | \`lib/high/\`, \`lib/side/\` |
| 3 | commands | \`commands/\` |
<!-- /layers -->
`;

/** Writes a fake checkout: README.md with TABLE and the given files. */
function fakeTree(files: Record<string, string>): string {
  const root = Deno.makeTempDirSync({ prefix: "layers-" });
  Deno.writeTextFileSync(`${root}/README.md`, TABLE);
  for (const [path, text] of Object.entries(files)) {
    Deno.mkdirSync(`${root}/${path.split("/").slice(0, -1).join("/")}`, { recursive: true });
    Deno.writeTextFileSync(`${root}/${path}`, text);
  }
  return root;
}

Deno.test("layers: the table is read from between the markers", () => {
  const units = parseLayerTable(TABLE);
  assert.deepEqual(units.map((u) => [u.path, u.rank]), [
    ["lib/base.ts", 0],
    ["lib/low/", 1],
    ["lib/high/", 2],
    ["lib/side/", 2],
    ["commands/", 3],
  ]);
  assert.throws(() => parseLayerTable("no table"), /layers/);
});

Deno.test("layers: imports are statements, not doc examples", () => {
  const src = [
    "/**",
    ' * import { x } from "../doc/example.ts";',
    " */",
    'import type { A } from "./a.ts";',
    "import {",
    "  b,",
    '} from "../b.ts";',
    'export { c } from "./c.ts";',
    'export * from "./d.ts";',
    'import "./side_effect.ts";',
    'import assert from "node:assert/strict";',
    'const m = await import("./dyn.ts");',
  ].join("\n");
  assert.deepEqual(importsOf(src), [
    "./a.ts",
    "../b.ts",
    "./c.ts",
    "./d.ts",
    "./side_effect.ts",
    "./dyn.ts",
  ]);
  assert.equal(resolveImport("lib/queue/split.ts", "../dma/memory.ts"), "lib/dma/memory.ts");
});

Deno.test("layers: a clean fake tree passes", () => {
  const root = fakeTree({
    "lib/base.ts": "export const base = 1;\n",
    "lib/low/a.ts": 'import { base } from "../base.ts";\nexport const a = base;\n',
    "lib/low/b.ts": 'import { a } from "./a.ts";\nexport const b = a;\n',
    "lib/high/h.ts": 'import { b } from "../low/b.ts";\nexport const h = b;\n',
    "commands/c.ts": 'import { h } from "../lib/high/h.ts";\nexport const c = h;\n',
  });
  assert.deepEqual(checkTree(root), []);
});

Deno.test("layers: an upward import, a peer import and a circle each fail", () => {
  const root = fakeTree({
    "lib/base.ts": "export const base = 1;\n",
    // upward: low (1) imports high (2)
    "lib/low/a.ts": 'import { h } from "../high/h.ts";\nexport const a = h;\n',
    "lib/high/h.ts": "export const h = 1;\n",
    // peer: high and side share rank 2
    "lib/side/s.ts": 'import { h } from "../high/h.ts";\nexport const s = h;\n',
    // a circle inside one layer (allowed direction, still a circle)
    "commands/x.ts": 'import { y } from "./y.ts";\nexport const x = () => y;\n',
    "commands/y.ts": 'import { x } from "./x.ts";\nexport const y = () => x;\n',
  });
  const problems = checkTree(root);
  assert.equal(problems.length, 3, problems.join("\n"));
  assert.match(problems[0]!, /^lib\/low\/a\.ts .* imports lib\/high\/h\.ts .*upward import$/);
  assert.match(problems[1]!, /^lib\/side\/s\.ts .* imports lib\/high\/h\.ts .*a peer import$/);
  assert.equal(problems[2], "import circle: commands/x.ts → commands/y.ts → commands/x.ts");
});

Deno.test("layers: a file in no layer, and a stale known problem, are reported", () => {
  const root = fakeTree({ "lib/base.ts": "export const base = 1;\n", "lib/stray.ts": "" });
  assert.deepEqual(checkTree(root, ["import circle: gone"]), [
    "lib/stray.ts: in no layer of the table",
    "fixed, drop from KNOWN: import circle: gone",
  ]);
});

Deno.test("layers: this checkout passes (README's table matches the tree)", () => {
  assert.deepEqual(checkTree(".", KNOWN), []);
});
