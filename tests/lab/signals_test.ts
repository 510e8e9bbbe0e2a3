/**
 * Issue 6, "Signals and exits", with real traffic: in one lab boot, 20 `virtio pktgen`
 * transmit runs (full speed and paced) stopped by SIGINT or SIGTERM at a random moment
 * 0.2–3 s after the takeover began (mid-traffic), 6 runs whose poll loop throws at a random
 * moment, and 6 bare takeovers (hold_device.ts) signalled 0–1.4 s into the takeover. Every
 * time the
 * NIC must end on virtio-pci by itself (no `virtio restore` needed), with no claim record left
 * and an interface that comes up. Prints the tallies.
 *
 * Each signalled run must also stop promptly (LAB_STOP_MS, HOST_STOP_MS). This caught a bug, fixed in
 * 476c63b: the loop yielded only through a MessageChannel message, and Deno noticed signals
 * 5–8 s late on the host and more than 15 s late in the TCG guest.
 */
import assert from "node:assert/strict";
import { REPO_ROOT, runInLab } from "../../lib/lab/vm.ts";

const NIC = "0000:00:04.0";
const PEER = "0000:00:07.0";
const ROUNDS = 20, THROWS = 6, HOLDS = 6;
/**
 * A signalled run must be over within this long: stopping the loop takes ~0.2 s, giving the
 * NIC back and exiting take the rest (measured up to 3.4 s in the loaded TCG guest, where the
 * late-signal bug of 476c63b made it 7 s to never). The host test has no guest to slow it.
 */
const LAB_STOP_MS = 8000, HOST_STOP_MS = 3000;

type Fields = Record<string, string>;

/** "kind k=v k=v" lines → kind → fields per line. */
function parse(stdout: string): Map<string, Fields[]> {
  const map = new Map<string, Fields[]>();
  for (const line of stdout.split("\n")) {
    if (!/^\w+ \w+=/.test(line)) continue;
    const [kind, ...pairs] = line.split(" ");
    const fields = Object.fromEntries(pairs.map((p) => p.split("=", 2) as [string, string]));
    map.set(kind!, [...(map.get(kind!) ?? []), fields]);
  }
  return map;
}

function tally(runs: Fields[], key: string): string {
  const counts = new Map<string, number>();
  for (const r of runs) counts.set(r[key] ?? "?", (counts.get(r[key] ?? "?") ?? 0) + 1);
  return [...counts].map(([k, n]) => `${key}=${k}×${n}`).join(" ");
}

Deno.test("lab: pktgen stopped by SIGINT/SIGTERM/an exception at random moments always gives the NIC back", async () => {
  const r = await runInLab({
    devices: "net-pair",
    command: [
      "sh",
      "tests/lab/scripts/rel_signals.sh",
      NIC,
      PEER,
      String(ROUNDS),
      String(THROWS),
      String(HOLDS),
    ],
    timeoutMs: 1_500_000,
  });
  console.log(r.stdout);
  assert.equal(r.code, 0, r.console.slice(-3000));
  const runs = parse(r.stdout);
  assert.deepEqual(runs.get("start"), [{ driver: "virtio-pci", works: "up" }]);
  const pktgen = runs.get("pktgen") ?? [];
  const throws = runs.get("throw") ?? [];
  const holds = runs.get("hold") ?? [];
  assert.equal(pktgen.length, ROUNDS, r.stdout);
  assert.equal(throws.length, THROWS, r.stdout);
  assert.equal(holds.length, HOLDS, r.stdout);
  for (const run of [...pktgen, ...throws, ...holds]) {
    const what = JSON.stringify(run);
    assert.equal(run.driver, "virtio-pci", what);
    assert.equal(run.needed_restore, "no", `the process did not give the NIC back: ${what}`);
    assert.equal(run.works, "up", what);
    assert.equal(run.claims, "0", what);
  }
  for (const run of pktgen) {
    // Signalled after the takeover began, so main.ts was listening: a clean stop with the
    // summary (exit 0), never the default death (130/143) or a kill (rc=killed).
    assert.equal(run.taken, "yes", JSON.stringify(run));
    assert.equal(run.rc, "0", JSON.stringify(run));
    assert.equal(run.summary, "yes", JSON.stringify(run));
    // Never a trace, and never a hang (rc=killed: still running 15 s after the signal).
    assert.equal(run.trace, "no", JSON.stringify(run));
    assert.ok(Number(run.stop_ms) < LAB_STOP_MS, JSON.stringify(run));
  }
  for (const run of throws) assert.equal(run.rc, "1", JSON.stringify(run));
  assert.deepEqual(runs.get("end"), [{ claims: "0" }]);
  const slowest = (speed: string) =>
    Math.max(0, ...pktgen.filter((p) => p.speed === speed).map((p) => Number(p.stop_ms)));
  console.log(
    `slowest stop after the signal: full speed ${slowest("full")} ms, paced ${slowest("paced")} ms`,
  );
  console.log(
    `signal tallies: pktgen ${pktgen.length} (${tally(pktgen, "sig")}; ${tally(pktgen, "rc")}), ` +
      `exceptions ${throws.length} (${tally(throws, "thrown")}), ` +
      `takeovers ${holds.length} (${tally(holds, "held")}); ` +
      `all ${pktgen.length + throws.length + holds.length} ended on virtio-pci with the link up`,
  );
});

Deno.test("signals (host, simulated NIC): a full-speed pktgen run stops soon after SIGINT/SIGTERM", async () => {
  const stops: number[] = [];
  for (const signal of ["SIGINT", "SIGTERM", "SIGINT"] as const) {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "--no-check", `${REPO_ROOT}/tests/lab/scripts/rel_sim_signal.ts`],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let seen = "";
    while (!seen.includes("running\n")) {
      const { value, done } = await reader.read();
      assert.ok(!done, "the simulated run never got going");
      seen += value;
    }
    await new Promise((r) => setTimeout(r, 1000)); // well into the run
    const signalled = performance.now();
    child.kill(signal);
    const killer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    while (!(await reader.read()).done) { /* drain */ }
    const status = await child.status;
    clearTimeout(killer);
    await child.stderr.cancel();
    stops.push(Math.round(performance.now() - signalled));
    assert.equal(status.code, 0, `${signal}: exit ${status.code} (137: hung, killed after 30 s)`);
  }
  console.log(`simulated full-speed run: stopped ${stops.join(", ")} ms after the signal`);
  for (const ms of stops) assert.ok(ms < HOST_STOP_MS, `${stops}`);
});
