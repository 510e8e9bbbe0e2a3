/**
 * Guest helper: takes DEVICE over with VirtioPciDevice.open (sysfs access), writes MARKER
 * once it holds it, then waits with `await` (so signals are delivered) until SIGINT or
 * SIGTERM aborts the wait, the way main.ts handles signals; MODE "throw" throws instead.
 * Leaving the `using` scope gives the device back.
 *
 * Usage: deno run -A hold_device.ts DEVICE MARKER [wait|throw]
 */
import { VirtioPciDevice } from "../../../lib/driver/virtio_pci_device.ts";

const [address, marker, mode = "wait"] = Deno.args;
if (address === undefined || marker === undefined) throw new Error("usage: DEVICE MARKER [MODE]");
const controller = new AbortController();
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => controller.abort());
}
{
  using device = VirtioPciDevice.open(address, { access: "sysfs" });
  Deno.writeTextFileSync(marker, `${device.typeName}\n`);
  if (mode === "throw") throw new Error("thrown while holding the device");
  while (!controller.signal.aborted) await new Promise((r) => setTimeout(r, 20));
}
console.error("hold_device: released");
