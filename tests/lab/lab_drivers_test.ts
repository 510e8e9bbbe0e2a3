/**
 * `virtio lab` as a user runs it: the help's own `--qemu-arg -device --qemu-arg X` form, the
 * driver of a device given that way loaded by modalias (as on a real VM), and `--no-drivers`
 * leaving every device driverless.
 */
import assert from "node:assert/strict";
import type { ProbeReport } from "../../lib/probe/report.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const RNG = "0000:00:1e.0";

async function lab(extra: string[]): Promise<{ code: number; report: ProbeReport; err: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "lab",
      "-q",
      "-d",
      "none",
      ...extra,
      "--qemu-arg",
      "-device",
      "--qemu-arg",
      "virtio-rng-pci,addr=1e",
      "--",
      "virtio",
      "probe",
      "--json",
      RNG,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  const text = new TextDecoder().decode(out.stdout);
  assert.equal(out.code, 0, err.slice(-2000));
  return { code: out.code, report: JSON.parse(text), err };
}

Deno.test("lab: a --qemu-arg device gets its driver by modalias; --no-drivers leaves it driverless", async () => {
  const bound = (await lab([])).report.devices[0]!;
  assert.equal(bound.address, RNG);
  assert.equal(
    bound.virtio_driver,
    "virtio_rng",
    "the driver of a --qemu-arg device was not loaded",
  );
  assert.ok(bound.features.negotiated, "bound, yet nothing negotiated");

  const driverless = (await lab(["--no-drivers"])).report.devices[0]!;
  assert.equal(driverless.address, RNG);
  assert.equal(driverless.virtio_driver, undefined);
  assert.equal(driverless.features.negotiated, undefined);
});
