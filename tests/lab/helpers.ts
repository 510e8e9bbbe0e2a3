/** Helpers the lab tests share: the guest script's output sections and tshark's checksum verdicts. */
import assert from "node:assert/strict";

/** Splits the guest's stdout at `@@name` markers; `@@rc N` lines become `rc`. */
export function sections(stdout: string): Map<string, { lines: string[]; rc?: number }> {
  const out = new Map<string, { lines: string[]; rc?: number }>();
  let cur = { lines: [] as string[] } as { lines: string[]; rc?: number };
  for (const line of stdout.split("\n")) {
    const rc = /^@@rc (\d+)$/.exec(line);
    if (rc) cur.rc = Number(rc[1]);
    else if (line.startsWith("@@")) out.set(line.slice(2), cur = { lines: [] });
    else if (line.trim()) cur.lines.push(line);
  }
  return out;
}

/**
 * A guest shell snippet printing, for each virtio PCI function (every one, or those at
 * `addresses`), its config space in hex ("ADDR config HEX") and, where a virtio driver's
 * device sits under it, the kernel's status and negotiated features ("ADDR kernel STATUS
 * FEATURES"): run it before and after a probe to show the probe moved nothing.
 */
export function virtioStateScript(addresses?: readonly string[]): string {
  const list = addresses
    ? addresses.map((a) => `/sys/bus/pci/devices/${a}`).join(" ")
    : "/sys/bus/pci/devices/*";
  // Underscored names: the snippet is pasted into scripts that have their own $a, $d, ...
  return [
    `for _d in ${list}; do`,
    '  [ "$(cat $_d/vendor)" = 0x1af4 ] || continue',
    "  _a=$(basename $_d)",
    '  echo "$_a config $(od -An -tx1 -v $_d/config | tr -d " \\n")"',
    '  for _v in $_d/virtio*; do [ -e "$_v/status" ] && echo "$_a kernel $(cat $_v/status) $(cat $_v/features)"; done',
    "done",
  ].join("\n");
}

/** tshark's IPv4 and UDP checksum status ("1\t1": both good) of every frame `filter` matches. */
export function tsharkStatuses(pcap: Uint8Array, filter: string): string[] {
  const file = Deno.makeTempFileSync({ suffix: ".pcap" });
  try {
    Deno.writeFileSync(file, pcap);
    const r = new Deno.Command("tshark", {
      args: [
        "-r",
        file,
        "-o",
        "udp.check_checksum:TRUE",
        "-o",
        "ip.check_checksum:TRUE",
        "-Y",
        filter,
        "-T",
        "fields",
        "-e",
        "ip.checksum.status",
        "-e",
        "udp.checksum.status",
      ],
    }).outputSync();
    assert.ok(r.success, new TextDecoder().decode(r.stderr));
    return new TextDecoder().decode(r.stdout).trim().split("\n").filter((l) => l);
  } finally {
    Deno.removeSync(file);
  }
}
