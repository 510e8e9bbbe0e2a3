import assert from "node:assert/strict";
import * as lib from "../../mod.ts";
import * as testing from "../../testing/mod.ts";

Deno.test("mod.ts exports the library surface the commands use", () => {
  const functions = [
    "probeAll",
    "probeDevice",
    "nameFeatures",
    "decideFeatures",
    "initializeDevice",
    "checkDeviceStatus",
    "createVirtqueue",
    "restoreAbandonedClaims",
    "bindDevice",
    "unbindDevice",
    "virtioStatus",
    "diagnose",
    "renderJUnit",
    "runSession",
    "runInLab",
    "startLab",
  ] as const;
  for (const name of functions) assert.equal(typeof lib[name], "function", name);
  for (
    const cls of [
      "VirtioPciDevice",
      "VirtioNet",
      "TxQueue",
      "RxQueue",
      "DeviceClaim",
      "FrameWriter",
    ] as const
  ) {
    assert.equal(typeof lib[cls], "function", cls);
  }
  for (const err of ["UsageError", "VirtioError", "DeviceError", "TimeoutError"] as const) {
    assert.ok(new lib[err]("x") instanceof Error, err);
  }
  assert.ok(new lib.SystemError("open", 2, "ENOENT") instanceof lib.VirtioError);
  assert.ok(new lib.DeviceError("x") instanceof lib.VirtioError);
  assert.ok(lib.CONFIG_DECODERS.has(1));
  assert.equal(lib.VIRTIO_F_VERSION_1, 32n);
  assert.equal(lib.PROBE_SCHEMA, "virtio-probe/1");
  assert.equal(lib.DIAG_SCHEMA, "virtio-diag/1");
});

Deno.test("testing/mod.ts exports every fake", () => {
  for (
    const name of [
      "FakeDma",
      "SimQueue",
      "SimNetLoopback",
      "FakeModernBar",
      "FakeLegacyBar",
      "FakeConfigSpace",
      "FakeBarRegion",
    ] as const
  ) {
    assert.equal(typeof testing[name], "function", name);
  }
});

Deno.test("deno test --doc mod.ts runs the documented examples", async () => {
  const root = new URL("../../", import.meta.url).pathname;
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--doc", "--no-check=remote", "mod.ts"],
    cwd: root,
    env: { NO_COLOR: "1" },
  }).output();
  const out = new TextDecoder().decode(r.stdout) + new TextDecoder().decode(r.stderr);
  assert.ok(r.success, out);
  const passed = out.match(/ok \| (\d+) passed \| 0 failed/);
  assert.ok(passed && Number(passed[1]) >= 3, out);
});
