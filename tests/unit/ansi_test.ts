/** The one colour helper (lib/ansi.ts) and the shared --sysfs rule (commands/args.ts). */
import assert from "node:assert/strict";
import { colorAllowed, paint } from "../../lib/ansi.ts";
import { sysfsParent } from "../../commands/args.ts";
import { UsageError } from "../../lib/errors.ts";

Deno.test("ansi: paint wraps only when colour is on", () => {
  assert.equal(paint(false, "red", "x"), "x");
  assert.equal(paint(true, "red", "x"), "\x1b[31mx\x1b[0m");
  assert.equal(paint(true, "dim", "x"), "\x1b[2mx\x1b[0m");
});

Deno.test("ansi: colour needs a terminal, and NO_COLOR unset or empty", () => {
  const tty = { isTerminal: () => true };
  const pipe = { isTerminal: () => false };
  const saved = Deno.env.get("NO_COLOR");
  try {
    Deno.env.delete("NO_COLOR");
    assert.equal(colorAllowed(tty), true);
    assert.equal(colorAllowed(pipe), false);
    Deno.env.set("NO_COLOR", "1");
    assert.equal(colorAllowed(tty), false);
    Deno.env.set("NO_COLOR", ""); // no-color.org: only a non-empty value disables
    assert.equal(colorAllowed(tty), true);
  } finally {
    if (saved === undefined) Deno.env.delete("NO_COLOR");
    else Deno.env.set("NO_COLOR", saved);
  }
});

Deno.test("args: --sysfs names a directory called sys; anything else is a usage error", () => {
  assert.equal(sysfsParent(undefined), "/");
  assert.equal(sysfsParent("/tmp/tree/sys/"), "/tmp/tree");
  assert.equal(sysfsParent("/sys"), "/");
  assert.throws(() => sysfsParent("/tmp/tree"), UsageError);
});
