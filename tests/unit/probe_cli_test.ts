import assert from "node:assert/strict";
import { runProbe } from "../../commands/probe.ts";
import { run } from "../../main.ts";
import { FIXTURE_SYSFS, fixtureOpener, NET_MAC } from "./probe_helpers_fakes.ts";
import { type RecordingIO, recordingIO } from "../../testing/recording_io.ts";

function captureIO(color = false): RecordingIO {
  return recordingIO({ color });
}

const SNAPSHOT = new URL("../fixtures/probe/host_tree.txt", import.meta.url).pathname;

Deno.test("virtio probe renders the recorded host as the reviewed tree", () => {
  const io = captureIO();
  const code = runProbe(["--sysfs", FIXTURE_SYSFS], io, { openBar: fixtureOpener().open });
  assert.equal(code, 0);
  assert.equal(io.stderr, "");
  if (Deno.env.get("UPDATE_SNAPSHOTS")) Deno.writeTextFileSync(SNAPSHOT, io.stdout);
  assert.equal(io.stdout, Deno.readTextFileSync(SNAPSHOT));
  assert.ok(!io.stdout.includes("\x1b["), "no colour without io.color");
});

Deno.test("colour only when io.color is set", () => {
  const io = captureIO(true);
  runProbe(["--sysfs", FIXTURE_SYSFS, "0000:00:05.0"], io, { openBar: fixtureOpener().open });
  assert.ok(io.stdout.startsWith("\x1b[1m0000:00:05.0 virtio-rng"));
});

Deno.test("--json: schema, filters and -v raw dumps", () => {
  const io = captureIO();
  runProbe(["--sysfs", FIXTURE_SYSFS, "--json", "-t", "net", "-v"], io, {
    openBar: fixtureOpener().open,
  });
  const report = JSON.parse(io.stdout);
  assert.equal(report.schema, "virtio-probe/1");
  assert.equal(report.devices.length, 1);
  const [net] = report.devices;
  assert.equal(net.address, "0000:00:03.0");
  assert.equal(net.config.fields.mac, NET_MAC);
  assert.equal(net.features.negotiated.hex, "0x000000012000dda3");
  assert.match(net.raw.config_space, /^0000: f4 1a 41 10 /);
  assert.match(net.raw.device_config, new RegExp("^0000: " + NET_MAC.replaceAll(":", " ")));
});

Deno.test("bad input: exit codes and messages, never a stack trace", async () => {
  const cases: [string[], number, RegExp][] = [
    [["probe", "--sysfs", FIXTURE_SYSFS, "0000:00:09.0"], 1, /no PCI device 0000:00:09.0/],
    [["probe", "--sysfs", FIXTURE_SYSFS, "00:00.0"], 1, /not a virtio device/],
    [["probe", "--sysfs", FIXTURE_SYSFS, "0:3"], 2, /malformed PCI address '0:3'/],
    [["probe", "--sysfs", FIXTURE_SYSFS, "--type", "toaster"], 2, /unknown device type/],
    [["probe", "--bogus"], 2, /bogus/],
  ];
  for (const [args, code, message] of cases) {
    const io = captureIO();
    assert.equal(await run(args, io), code, args.join(" "));
    assert.match(io.stderr, message);
    assert.doesNotMatch(io.stderr, /internal error|\n {4}at /);
  }
});

Deno.test("not root: a 64-byte config space gives a clear message and exit code 1", () => {
  const root = Deno.makeTempDirSync();
  try {
    const src = `${FIXTURE_SYSFS}/bus/pci/devices/0000:00:05.0`;
    const dst = `${root}/sys/bus/pci/devices/0000:00:05.0`;
    Deno.mkdirSync(dst, { recursive: true });
    for (const f of Deno.readDirSync(src)) {
      if (f.isFile) Deno.copyFileSync(`${src}/${f.name}`, `${dst}/${f.name}`);
    }
    Deno.writeFileSync(`${dst}/config`, Deno.readFileSync(`${src}/config`).slice(0, 64));
    const io = captureIO();
    const code = runProbe(["--root", root], io, { openBar: fixtureOpener().open });
    assert.equal(code, 1);
    assert.match(io.stderr, /not root.*run as root/);
    assert.match(io.stdout, /only 64 bytes of config space readable/);
  } finally {
    Deno.removeSync(root, { recursive: true });
  }
});
