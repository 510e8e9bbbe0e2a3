import assert from "node:assert/strict";
import { joinOptionValues, parseArgs } from "../../commands/args.ts";
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
