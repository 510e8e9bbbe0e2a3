import assert from "node:assert/strict";
import {
  choiceOption,
  joinOptionValues,
  parseArgs,
  rootOption,
  secondsOption,
  SHORT_OPTIONS,
} from "../../commands/args.ts";
import { commands } from "../../commands/registry.ts";
import { UsageError } from "../../lib/errors.ts";

const OPTIONS = {
  "qemu-arg": { type: "string", multiple: true },
  devices: { type: "string", short: "d" },
  quiet: { type: "boolean", short: "q" },
} as const;

Deno.test("args: a value starting with '-' is taken in both forms, long and short", () => {
  const spaced = parseArgs(
    ["--qemu-arg", "-device", "--qemu-arg", "virtio-rng-pci", "-d", "-x"],
    OPTIONS,
  );
  const joined = parseArgs(
    ["--qemu-arg=-device", "--qemu-arg=virtio-rng-pci", "--devices=-x"],
    OPTIONS,
  );
  assert.deepEqual(spaced.values, joined.values);
  assert.deepEqual(spaced.values["qemu-arg"], ["-device", "virtio-rng-pci"]);
  assert.equal(spaced.values.devices, "-x");
});

Deno.test("args: words after -- and boolean options are left alone", () => {
  assert.deepEqual(
    joinOptionValues(["-q", "--", "--devices", "x"], OPTIONS),
    ["-q", "--", "--devices", "x"],
  );
  const r = parseArgs(["-q", "pos", "--", "-d"], OPTIONS);
  assert.equal(r.values.quiet, true);
  assert.deepEqual(r.positionals, ["pos", "-d"]);
});

Deno.test("args: a missing value or unknown option is a UsageError with the whole message", () => {
  assert.throws(() => parseArgs(["--devices"], OPTIONS), UsageError);
  assert.throws(() => parseArgs(["--devices", "--"], OPTIONS), /--devices/);
  assert.throws(() => parseArgs(["--nope"], OPTIONS), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.match(e.message, /Unknown option '--nope'/);
    assert.doesNotMatch(e.message, /\n/);
    return true;
  });
});

Deno.test("args: a short option given to another long name is refused (one meaning each)", () => {
  assert.equal(SHORT_OPTIONS.d, "devices");
  assert.equal(SHORT_OPTIONS.q, "quiet");
  assert.throws(
    () => parseArgs([], { duration: { type: "string", short: "d" } }),
    /-d is --devices in every command, not --duration/,
  );
  assert.throws(() => parseArgs([], { x: { type: "boolean", short: "x" } }), /-x is --\(none\)/);
});

Deno.test("args: every command's option table passes the short-option check", () => {
  // Each parser runs its table through the check before it looks at the words, so a table
  // giving -q to --queues throws a plain Error (not a UsageError) even for no arguments.
  for (const c of commands) {
    try {
      c.parse([]);
    } catch (e) {
      assert.ok(e instanceof UsageError, `${c.name}: ${e}`);
    }
  }
});

Deno.test("args: --root is the one fake-tree option; --sysfs its old name for the sys dir", () => {
  assert.equal(rootOption({}), undefined);
  assert.equal(rootOption({ root: "/tmp/t" }), "/tmp/t");
  assert.equal(rootOption({ sysfs: "/tmp/t/sys" }), "/tmp/t");
  assert.throws(() => rootOption({ root: "/a", sysfs: "/a/sys" }), UsageError);
  assert.throws(() => rootOption({ sysfs: "/tmp/t" }), UsageError);
  assert.throws(() => rootOption({ root: "" }), UsageError);
});

Deno.test("args: seconds and choices, with the option named in the message", () => {
  assert.equal(secondsOption("warmup", "0.5"), 0.5);
  assert.equal(secondsOption("warmup", undefined), undefined);
  assert.throws(
    () => secondsOption("interval", "0", 0.1),
    /--interval must be a number of seconds ≥ 0.1, got '0'/,
  );
  assert.throws(() => secondsOption("runtime", " "), UsageError);
  assert.equal(choiceOption("ring", undefined, ["split", "packed"], "split"), "split");
  assert.throws(
    () => choiceOption("ring", "x", ["split", "packed"], "split"),
    /--ring must be one of split, packed, got 'x'/,
  );
});
