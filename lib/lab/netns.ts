/**
 * The lab's own network namespace, for NICs whose QEMU backend is a multiqueue tap
 * (LabDevice.tap): one bridge, one tap per NIC as its port, IPv6 off so the host stack sends
 * nothing on it. QEMU runs inside the namespace (`ip netns exec`) and attaches to the taps;
 * deleting the namespace deletes every interface in it. Nothing in the host's own network
 * namespace is created or changed.
 *
 * Namespaces are named `virtio-lab-<pid>-<n>`; one left behind by a killed run (its pid is
 * gone) is deleted by the next run that makes one.
 *
 * @module
 */
import { VirtioError } from "../errors.ts";
import { exists, listDir } from "../sys/files.ts";
import { exec } from "./exec.ts";

/** A created namespace: `wrap` a command to run it inside; dispose to delete it. */
export interface TapNamespace extends AsyncDisposable {
  /** The namespace's name (`ip netns list`). */
  readonly name: string;
  /** `argv` run inside the namespace. */
  wrap(argv: readonly string[]): string[];
  /**
   * Captures what crosses tap `ifname` into a pcap `file` with dumpcap (QEMU's filter-dump
   * takes no multiqueue netdev), only frames from `srcMac` when given: what that NIC sent.
   * Resolves once dumpcap captures; `stop` ends it and waits until the file is complete.
   */
  capture(ifname: string, file: string, srcMac?: string): Promise<TapCapture>;
}

/** A running dumpcap. */
export interface TapCapture {
  /** Ends the capture (SIGINT: dumpcap writes what it holds) and waits for it. */
  stop(): Promise<void>;
}

const PREFIX = "virtio-lab-";
const BRIDGE = "vlbr0";
let created = 0;

/** `ip` as root: directly when we are root, else through `sudo -n` (fails at once without it). */
function ip(...args: string[]): string[] {
  return Deno.uid() === 0 ? ["ip", ...args] : ["sudo", "-n", "ip", ...args];
}

const HINT =
  "tap-backed lab NICs need root (or sudo without a password) and iproute2 (./run setup)";

/** Creates the namespace with a bridge and one multiqueue tap per name in `taps`. */
export async function createTapNamespace(taps: readonly string[]): Promise<TapNamespace> {
  await deleteAbandoned();
  const name = `${PREFIX}${Deno.pid}-${created++}`;
  await exec(ip("netns", "add", name), { hint: HINT });
  const ns = (...args: string[]) => exec(ip("-n", name, ...args), { hint: HINT });
  try {
    // Before any interface exists, so that none of them gets an IPv6 link-local address
    // (router solicitations and MLD reports would otherwise reach the receiving NIC).
    await exec(ip("netns", "exec", name, "sh", "-c", DISABLE_IPV6), { hint: HINT });
    await ns("link", "set", "lo", "up");
    // No multicast snooping: the bridge would join groups itself (IGMP reports on the wire).
    await ns("link", "add", BRIDGE, "type", "bridge", "mcast_snooping", "0");
    for (const tap of taps) {
      await ns("tuntap", "add", "dev", tap, "mode", "tap", "multi_queue");
      await ns("link", "set", tap, "master", BRIDGE, "up");
    }
    await ns("link", "set", BRIDGE, "up");
  } catch (e) {
    await exec(ip("netns", "delete", name)).catch(() => {});
    throw e;
  }
  const wrap = (argv: readonly string[]) => ip("netns", "exec", name, ...argv);
  return {
    name,
    wrap,
    capture: (ifname, file, srcMac) => startCapture(wrap, ifname, file, srcMac),
    async [Symbol.asyncDispose]() {
      await exec(ip("netns", "delete", name)).catch(() => {});
    },
  };
}

const DISABLE_IPV6 = "for f in /proc/sys/net/ipv6/conf/all/disable_ipv6 " +
  "/proc/sys/net/ipv6/conf/default/disable_ipv6; do [ -e $f ] && echo 1 > $f; done; true";

/** Deletes lab namespaces whose creating process is gone (a run that was killed). */
async function deleteAbandoned(): Promise<void> {
  for (const n of listDir("/run/netns")) { // empty: no namespace exists yet
    const pid = abandonedPid(n);
    if (pid !== undefined && !exists(`/proc/${pid}`, true)) {
      await exec(ip("netns", "delete", n)).catch(() => {});
    }
  }
}

/** The pid in a lab namespace name, or undefined for any other name. */
function abandonedPid(name: string): number | undefined {
  const m = /^virtio-lab-(\d+)-\d+$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

async function startCapture(
  wrap: (argv: readonly string[]) => string[],
  ifname: string,
  file: string,
  srcMac?: string,
): Promise<TapCapture> {
  // -P: classic pcap (what readPcap reads); -B: a 64 MiB kernel buffer, so a burst is kept.
  const argv = wrap([
    "dumpcap",
    "-q",
    "-P",
    "-B",
    "64",
    "-i",
    ifname,
    "-w",
    file,
    ...(srcMac ? ["-f", `ether src ${srcMac}`] : []),
  ]);
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const status = child.status;
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  // dumpcap says "File: <name>" on stderr once the capture runs.
  while (!said.includes("File:")) {
    const r = await Promise.race([reader.read(), status.then(() => undefined)]);
    if (r === undefined || r.done) {
      throw new VirtioError(`lab: dumpcap on ${ifname} did not start: ${said.trim()}`, {
        hint: "dumpcap comes with Debian's tshark (./run setup)",
      });
    }
    said += r.value;
  }
  const draining = (async () => {
    while (!(await reader.read()).done) { /* keep the pipe flowing */ }
  })();
  return {
    async stop() {
      try {
        child.kill("SIGINT");
      } catch { /* already gone */ }
      await status;
      await draining;
    },
  };
}
