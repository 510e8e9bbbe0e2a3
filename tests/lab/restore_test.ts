/**
 * Issue 6, "Signals and exits", on a real NIC in the lab: a process holding the device
 * (VirtioPciDevice.open) ends by SIGKILL, SIGTERM, SIGINT, an exception, or a signal at a
 * random moment; every time the NIC ends back on virtio-pci with a working interface —
 * after a SIGKILL once `virtio restore` (or the next takeover) has run.
 */
import assert from "node:assert/strict";
import { runInLab } from "../../lib/lab/vm.ts";

const ROUNDS = 6;

/** "name k=v k=v" lines → name → fields (the last line of each name wins). */
function parse(stdout: string): Map<string, Record<string, string>[]> {
  const map = new Map<string, Record<string, string>[]>();
  for (const line of stdout.trim().split("\n")) {
    const [name, ...pairs] = line.split(" ");
    const fields = Object.fromEntries(pairs.map((p) => p.split("=", 2) as [string, string]));
    map.set(name!, [...(map.get(name!) ?? []), fields]);
  }
  return map;
}

Deno.test("lab: SIGKILL, SIGTERM, SIGINT, exceptions — the NIC always ends back on virtio-pci", async () => {
  const r = await runInLab({
    devices: "net-pair",
    command: ["sh", "tests/lab/scripts/restore.sh", "0000:00:04.0", String(ROUNDS)],
    timeoutMs: 400_000,
  });
  console.log(r.stdout);
  assert.equal(r.code, 0, r.console.slice(-3000));
  const lines = parse(r.stdout);
  const one = (name: string) => {
    const found = lines.get(name);
    assert.ok(found?.length === 1, `no single '${name}' line in:\n${r.stdout}`);
    return found[0]!;
  };
  assert.deepEqual(one("start"), { driver: "virtio-pci", works: "up" });
  // SIGKILL: nothing of ours ran; the device is left unbound and the record stays.
  assert.deepEqual(one("kill9"), { held: "yes", rc: "137", driver: "none", claims: "1" });
  assert.match(r.stdout, /^status-dead-claims=1$/m);
  assert.match(r.stdout, /^0000:00:04\.0: given back to virtio-pci \(process \d+ is gone\)$/m);
  assert.deepEqual(one("restore"), { rc: "0", driver: "virtio-pci", works: "up", claims: "0" });
  assert.match(r.stdout, /^restore-again=nothing to restore$/m);
  // The next takeover gives a dead owner's claim back first, then takes the device anew.
  assert.deepEqual(one("next-start"), { held: "yes", rc: "0", driver: "virtio-pci", works: "up" });
  for (const sig of ["sigTERM", "sigINT"]) {
    assert.deepEqual(one(sig), { held: "yes", rc: "0", driver: "virtio-pci", works: "up" });
  }
  assert.deepEqual(one("throw"), { rc: "1", driver: "virtio-pci", works: "up" });
  const random = lines.get("random") ?? [];
  assert.equal(random.length, ROUNDS);
  for (const round of random) {
    assert.equal(round.driver, "virtio-pci", JSON.stringify(round));
    assert.equal(round.works, "up", JSON.stringify(round));
    // Once our handler holds the device, a signal is handled: no restore needed.
    if (round.held === "yes" && round.rc === "0") assert.equal(round.needed_restore, "no");
  }
  assert.deepEqual(one("end"), { claims: "0" });
});
