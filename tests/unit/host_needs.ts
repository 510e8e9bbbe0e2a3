/**
 * Tests that depend on this host (root, a virtio device of its own, a tool) declare what they
 * need with {@link hostTest}, so a missing need shows as an *ignored* test naming the need —
 * never a silent early return that passes.
 *
 * CI switch: with `VIRTIO_REQUIRE_ALL=1` (set by .ci/run), a test whose missing need is one CI
 * must have (`ci: true`: the tools `./run setup` installs) fails instead of being ignored.
 */
import { readText } from "../../lib/pci/sysfs.ts";
import { listDir } from "../../lib/sys/files.ts";

/** One thing a test needs from the host. */
export interface HostNeed {
  /** What, in words ("root", "tshark"). */
  readonly what: string;
  /** Whether this host has it. */
  readonly ok: boolean;
  /** CI always has it (./run setup installs it): under VIRTIO_REQUIRE_ALL=1 its lack fails. */
  readonly ci: boolean;
}

/** True when `cmd args` runs and exits 0 (a tool is installed). */
export function commandWorks(cmd: string, args: string[] = ["--version"]): boolean {
  try {
    return new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).outputSync().success;
  } catch {
    return false;
  }
}

/** True when some PCI function of this host has the virtio vendor id. */
export function hostHasVirtio(): boolean {
  const dir = "/sys/bus/pci/devices";
  return listDir(dir).some((name) => readText(`${dir}/${name}/vendor`) === "0x1af4");
}

/** The needs the unit tests share. */
export const NEEDS = {
  root: { what: "root", ok: Deno.uid() === 0, ci: false },
  virtio: { what: "a virtio PCI device on this host", ok: hostHasVirtio(), ci: false },
  tshark: { what: "tshark", ok: commandWorks("tshark"), ci: true },
  lspci: { what: "lspci", ok: commandWorks("lspci", ["--version"]), ci: true },
} as const satisfies Record<string, HostNeed>;

/** Whether the CI switch is on. */
export function requireAll(): boolean {
  return Deno.env.get("VIRTIO_REQUIRE_ALL") === "1";
}

/** What to do with a test: run it, ignore it (naming the lack), or fail it (CI lacks a need). */
export function decide(
  needs: readonly HostNeed[],
  strict: boolean,
): { action: "run" } | { action: "ignore" | "fail"; missing: string } {
  const missing = needs.filter((n) => !n.ok);
  if (missing.length === 0) return { action: "run" };
  const names = missing.map((n) => n.what).join(", ");
  return { action: strict && missing.some((n) => n.ci) ? "fail" : "ignore", missing: names };
}

/** Deno.test for a test that needs things from the host (see the module doc). */
export function hostTest(
  name: string,
  needs: readonly HostNeed[],
  fn: (t: Deno.TestContext) => void | Promise<void>,
): void {
  const d = decide(needs, requireAll());
  if (d.action === "run") Deno.test({ name, fn });
  else if (d.action === "ignore") {
    Deno.test({ name: `${name} [needs ${d.missing}]`, ignore: true, fn });
  } else {
    Deno.test(name, () => {
      throw new Error(
        `CI must run this test, but the host lacks ${d.missing} (VIRTIO_REQUIRE_ALL=1)`,
      );
    });
  }
}
