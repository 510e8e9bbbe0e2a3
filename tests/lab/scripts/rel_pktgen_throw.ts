/**
 * Guest helper for tests/lab/signals_test.ts: a `virtio pktgen` transmit run on DEVICE whose
 * poll loop throws after MS milliseconds — an exception at a random point of a run, wherever
 * it lands (takeover done, traffic flowing). The exit code follows main.ts: 1 for a failure.
 * The device must be given back on the way out.
 *
 * Usage: deno run -A rel_pktgen_throw.ts DEVICE MS
 */
import { runPktgen } from "../../../commands/pktgen.ts";

const [device, msText] = Deno.args;
if (device === undefined || msText === undefined) throw new Error("usage: DEVICE MS");
const throwAt = performance.now() + Number(msText);
const controller = new AbortController();
const io = {
  out: (t: string) => void Deno.stdout.writeSync(new TextEncoder().encode(t)),
  err: (t: string) => void Deno.stderr.writeSync(new TextEncoder().encode(t)),
  color: false,
  signal: controller.signal,
};
let code: number;
try {
  code = await runPktgen([device, "--access", "sysfs", "--quiet", "--duration", "30"], io, {
    tick: () => {
      if (performance.now() >= throwAt) throw new Error("rel: thrown from the poll loop");
    },
  });
  console.error(`rel: run ended with ${code} before the throw`);
} catch (e) {
  console.error(`rel: thrown: ${e instanceof Error ? e.message : e}`);
  code = 1;
}
Deno.exit(code);
