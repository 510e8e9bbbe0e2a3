/**
 * Helper for tests/lab/signals_test.ts, run on the host (no VM): an unbounded full-speed
 * `virtio pktgen` transmit run on the simulated NIC, with SIGINT/SIGTERM handled the way
 * main.ts handles them (abort the run's signal). Prints "running" once frames flow; the
 * parent then signals it and measures how long the run takes to stop.
 *
 * Usage: deno run -A rel_sim_signal.ts
 */
import { runPktgen } from "../../../commands/pktgen.ts";
import { simPort } from "../../unit/pktgen_sim_port.ts";

const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => controller.abort(new Error("interrupted by signal")));
}
const enc = new TextEncoder();
const { sim, port } = simPort("split");
let announced = false;
const code = await runPktgen(["00:04.0", "--quiet"], {
  out: () => {},
  err: (t) => void Deno.stderr.writeSync(enc.encode(t)),
  color: false,
  signal: controller.signal,
}, {
  open: () => ({ ...port, [Symbol.dispose]: () => {} }),
  tick: () => {
    sim.step();
    if (!announced && sim.transmitted > 1000) {
      announced = true;
      Deno.stdout.writeSync(enc.encode("running\n"));
    }
  },
});
Deno.stdout.writeSync(enc.encode(`stopped ${code}\n`));
Deno.exit(code);
