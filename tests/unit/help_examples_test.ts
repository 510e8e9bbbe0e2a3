/**
 * Every command's help examples parse: the lines under "Examples:" in each `--help` text go
 * through that command's own parser (Command.parse: nothing opened), so an example that names
 * a removed option, a short option that changed meaning or a bad value fails here. A lab
 * example's guest command (`-- virtio ...`) is parsed by its command too.
 */
import assert from "node:assert/strict";
import { commands } from "../../commands/registry.ts";
import type { Command } from "../../commands/command.ts";

/** The example command lines of a help text: the indented lines after "Examples:". */
export function helpExamples(usage: string): string[] {
  const lines = usage.split("\n");
  const at = lines.findIndex((l) => l.trim() === "Examples:");
  if (at < 0) return [];
  const out: string[] = [];
  for (const l of lines.slice(at + 1)) {
    if (!/^\s+\S/.test(l)) break;
    out.push(l.replace(/\s+#.*$/, "").trim());
  }
  return out;
}

/** Splits a command line into words as sh would for these examples: spaces, '…' and "…". */
export function shellWords(line: string): string[] {
  const words: string[] = [];
  const re = /'([^']*)'|"([^"]*)"|(\S+)/g;
  for (const m of line.matchAll(re)) words.push(m[1] ?? m[2] ?? m[3]!);
  return words;
}

const byName = new Map(commands.map((c) => [c.name, c]));

/** Parses `virtio NAME ARGS...` with NAME's parser; returns the command. */
function parseExample(words: string[]): Command {
  assert.equal(words[0], "virtio", `an example starts with 'virtio': ${words.join(" ")}`);
  const cmd = byName.get(words[1] ?? "");
  assert.ok(cmd, `no command '${words[1]}' for the example '${words.join(" ")}'`);
  try {
    cmd.parse(words.slice(2));
  } catch (e) {
    assert.fail(`'${words.join(" ")}': ${e instanceof Error ? e.message : e}`);
  }
  return cmd;
}

Deno.test("help examples: the extractor reads the example block and shell quoting", () => {
  const usage = "Usage: x\n\nExamples:\n  virtio a --b 'c d'   # note\n  virtio e\n\nExit codes";
  assert.deepEqual(helpExamples(usage), ["virtio a --b 'c d'", "virtio e"]);
  assert.deepEqual(shellWords(`virtio conform --only '^vq\\.' --x "y z"`), [
    "virtio",
    "conform",
    "--only",
    "^vq\\.",
    "--x",
    "y z",
  ]);
});

for (const cmd of commands) {
  Deno.test(`help examples: every example of 'virtio ${cmd.name} --help' parses`, () => {
    const examples = helpExamples(cmd.usage);
    assert.ok(examples.length > 0, `'virtio ${cmd.name} --help' has no Examples: section`);
    for (const line of examples) {
      const words = shellWords(line);
      assert.equal(words[1], cmd.name, `'${line}' is an example of another command`);
      parseExample(words);
      const dash = words.indexOf("--");
      if (cmd.name === "lab" && dash >= 0 && words[dash + 1] === "virtio") {
        parseExample(words.slice(dash + 1));
      }
    }
  });
}

Deno.test("help examples: a bad example is caught (the check can fail)", () => {
  const pktgen = byName.get("pktgen")!;
  assert.throws(() => parseExample(shellWords("virtio pktgen 00:04.0 -d 5")), /pktgen/);
  assert.throws(() => pktgen.parse(["00:04.0", "--queues", "0"]), /--queues/);
});
