/**
 * Issue 6, "Bad input": a table of bad command lines, each run through `run()` from main.ts
 * (or as a non-root subprocess). Every case must print exactly one clear line on stderr (plus
 * an optional `Try …`/`hint:` line), end with the documented exit code (2 usage, 1 runtime),
 * show no stack trace, and change nothing: no claim record, no driver moved — neither on this
 * machine (its own virtio devices are only ever read here) nor in the fake sysfs trees.
 *
 * Cases that need a device taken over (wrong device type for pktgen, in use, no hugepages, no
 * IOMMU group, size above the MTU, queue size the device does not support) run in one lab
 * boot: tests/lab/faults_test.ts.
 */
import assert from "node:assert/strict";
import { run } from "../../main.ts";
import { type RecordingIO, recordingIO } from "../../testing/recording_io.ts";
import { writeClaim } from "./claim_fixture.ts";
import { hostTest, NEEDS } from "./host_needs.ts";

const NIC = "0000:00:07.0";
const BRIDGE = "0000:00:00.0";
const ABSENT = "0000:00:1f.7";

/** A fake root (sys/, proc/, run/) with a host bridge and one virtio NIC, for --root. */
class FakeRoot implements Disposable {
  readonly root = Deno.makeTempDirSync({ prefix: "virtio-bad-input-" });
  constructor(o: { nicUp?: boolean; claimedByUs?: boolean } = {}) {
    Deno.mkdirSync(`${this.root}/sys/bus/pci/drivers/virtio-pci`, { recursive: true });
    this.#device(BRIDGE, "0x8086", "0x29c0");
    this.#device(NIC, "0x1af4", "0x1041");
    Deno.writeFileSync(`${this.dev(NIC)}/config`, new Uint8Array(64));
    Deno.symlinkSync("../../drivers/virtio-pci", `${this.dev(NIC)}/driver`);
    const child = `${this.dev(NIC)}/virtio3`;
    Deno.mkdirSync(`${child}/net/eth1`, { recursive: true });
    Deno.writeTextFileSync(`${child}/device`, "0x0001\n");
    // IFF_UP (0x1) set: with no address list available, an up interface counts as in use.
    Deno.writeTextFileSync(`${child}/net/eth1/flags`, o.nicUp ? "0x1003\n" : "0x1002\n");
    Deno.symlinkSync("../../bus/virtio/drivers/virtio_net", `${child}/driver`);
    Deno.mkdirSync(`${this.root}/proc/${Deno.pid}`, { recursive: true });
    if (o.claimedByUs) writeClaim(this.root, NIC, Deno.pid, "vfio-pci");
  }
  dev(a: string): string {
    return `${this.root}/sys/bus/pci/devices/${a}`;
  }
  #device(a: string, vendor: string, device: string): void {
    Deno.mkdirSync(this.dev(a), { recursive: true });
    Deno.writeTextFileSync(`${this.dev(a)}/vendor`, `${vendor}\n`);
    Deno.writeTextFileSync(`${this.dev(a)}/device`, `${device}\n`);
    Deno.writeTextFileSync(`${this.dev(a)}/subsystem_device`, "0x1100\n");
    Deno.writeTextFileSync(`${this.dev(a)}/driver_override`, "(null)\n");
  }
  /** Every file's content and every link's target: any write or (un)bind shows here. */
  snapshot(): string {
    const lines: string[] = [];
    const walk = (dir: string) => {
      for (const e of [...Deno.readDirSync(dir)].sort((a, b) => a.name < b.name ? -1 : 1)) {
        const p = `${dir}/${e.name}`;
        if (e.isSymlink) lines.push(`${p} -> ${Deno.readLinkSync(p)}`);
        else if (e.isDirectory) walk(p);
        else lines.push(`${p} = ${Deno.readTextFileSync(p)}`);
      }
    };
    walk(this.root);
    return lines.join("\n");
  }
  [Symbol.dispose](): void {
    Deno.removeSync(this.root, { recursive: true });
  }
}

/** This machine's state the tool could change: claim records and virtio drivers. */
function hostState(): string {
  const lines: string[] = [];
  try {
    for (const e of Deno.readDirSync("/run/virtio-toolkit/claims")) lines.push(`claim ${e.name}`);
  } catch { /* no claims directory: nothing claimed */ }
  for (const e of Deno.readDirSync("/sys/bus/pci/devices")) {
    let driver = "none";
    try {
      driver = Deno.readLinkSync(`/sys/bus/pci/devices/${e.name}/driver`).split("/").pop()!;
    } catch { /* unbound */ }
    const override = Deno.readTextFileSync(`/sys/bus/pci/devices/${e.name}/driver_override`);
    lines.push(`${e.name} ${driver} ${override.trim()}`);
  }
  return lines.sort().join("\n");
}

/** One bad input: the command line, the exit code, and what the first stderr line says. */
interface Case {
  args: string[];
  code: 1 | 2;
  says: RegExp;
  /** Builds a fake root; `{root}` in args is replaced by its path. */
  fake?: ConstructorParameters<typeof FakeRoot>[0];
}

const CASES: Case[] = [
  // The command line itself.
  { args: [], code: 2, says: /^virtio \d+\.\d+\.\d+ — / },
  { args: ["frobnicate"], code: 2, says: /^virtio: unknown command 'frobnicate'$/ },
  { args: ["probe", "--bogus"], code: 2, says: /Unknown option '--bogus'/ },
  { args: ["probe", "--type"], code: 2, says: /'-t, --type <value>' argument missing/ },
  { args: ["probe", "--type", "floppy"], code: 2, says: /unknown device type 'floppy'/ },
  { args: ["status", "extra"], code: 2, says: /unexpected argument 'extra'/ },
  { args: ["restore", "now"], code: 2, says: /unexpected argument 'now'/ },
  { args: ["status", "--root"], code: 2, says: /'--root <value>' argument missing/ },
  // Malformed and missing PCI addresses.
  { args: ["probe", "zz:zz.z"], code: 2, says: /malformed PCI address 'zz:zz\.z' \(expected/ },
  { args: ["probe", "00:04"], code: 2, says: /malformed PCI address '00:04'/ },
  { args: ["probe", "0000:100:00.0"], code: 2, says: /malformed PCI address '0000:100:00\.0'/ },
  { args: ["pktgen", "00:04.8"], code: 2, says: /malformed PCI address '00:04\.8'/ },
  { args: ["unbind", "garbage"], code: 2, says: /malformed PCI address 'garbage'/ },
  { args: ["pktgen"], code: 2, says: /missing DEVICE \(a PCI address\)/ },
  { args: ["unbind"], code: 2, says: /missing DEVICE \(a PCI address\)/ },
  { args: ["pktgen", "00:04.0", "00:05.0"], code: 2, says: /one DEVICE expected, got 2/ },
  { args: ["probe", ABSENT], code: 1, says: /^virtio: no PCI device 0000:00:1f\.7$/ },
  { args: ["pktgen", ABSENT, "-n", "1"], code: 1, says: /^virtio: no PCI device 0000:00:1f\.7$/ },
  { args: ["bind", ABSENT, "--driver", "vfio-pci"], code: 1, says: /no PCI device 0000:00:1f\.7$/ },
  // Not a virtio device (read-only probe, and a takeover refused before touching anything).
  { args: ["probe", BRIDGE], code: 1, says: /0000:00:00\.0 is not a virtio device \(vendor/ },
  { args: ["pktgen", BRIDGE, "-n", "1"], code: 1, says: /0000:00:00\.0 is not a virtio device/ },
  {
    args: ["bind", BRIDGE, "--driver", "vfio-pci", "--root", "{root}"],
    code: 1,
    says: /0000:00:00\.0 is not a virtio device \(ids 8086:29c0\)/,
    fake: {},
  },
  // In use: an interface up (and no proof it is idle), or another virtio process holds it.
  {
    args: ["unbind", NIC, "--root", "{root}"],
    code: 1,
    says: /^virtio: refusing to unbind 0000:00:07\.0: interface eth1 is up/,
    fake: { nicUp: true },
  },
  {
    args: ["bind", NIC, "--driver", "vfio-pci", "--root", "{root}"],
    code: 1,
    says: new RegExp(`0000:00:07\\.0 is in use by virtio process ${Deno.pid}$`),
    fake: { claimedByUs: true },
  },
  // Out-of-range option values.
  { args: ["pktgen", "00:04.0", "--size", "0"], code: 2, says: /frame size '0' must be/ },
  { args: ["pktgen", "00:04.0", "--size", "9000"], code: 2, says: /frame size '9000' must be/ },
  { args: ["pktgen", "00:04.0", "--rate=-5"], code: 2, says: /--rate must be positive/ },
  { args: ["pktgen", "00:04.0", "--queue-size", "100"], code: 2, says: /not a power of two/ },
  {
    args: ["pktgen", "00:04.0", "--queue-size", "65536"],
    code: 2,
    says: /--queue-size must be an integer from 1 to 32768/,
  },
  { args: ["pktgen", "00:04.0", "--queue-size", "0"], code: 2, says: /--queue-size must be/ },
  { args: ["diag", "--active", "--frames", "0"], code: 2, says: /--frames must be an integer/ },
  { args: ["lab", "--memory", "abc"], code: 2, says: /--memory must be an integer/ },
  { args: ["pktgen", "00:04.0", "--access", "dma"], code: 2, says: /--access must be one of/ },
  { args: ["lab", "--devices", "floppy"], code: 2, says: /unknown lab device or set 'floppy'/ },
  // Conflicting options and missing values.
  { args: ["pktgen", "00:04.0", "--rx", "--loopback", "00:05.0"], code: 2, says: /exclude/ },
  { args: ["pktgen", "00:04.0", "--rx", "--rate", "1M"], code: 2, says: /--rx does not/ },
  { args: ["pktgen", "00:04.0", "--loopback", "00:04.0"], code: 2, says: /another device/ },
  { args: ["diag", "--json", "--jsonl"], code: 2, says: /--json and --jsonl exclude each/ },
  { args: ["diag", "--force"], code: 2, says: /--force only applies with --active/ },
  { args: ["bind", "00:07.0"], code: 2, says: /missing --driver NAME/ },
  { args: ["pktgen", "00:04.0", "--count"], code: 2, says: /argument missing/ },
];

const captureIO = (): RecordingIO => recordingIO();

/** One line that says what is wrong, at most one follow-up (Try … / hint:), no trace. */
function assertOneClearLine(stderr: string, says: RegExp, what: string): void {
  const lines = stderr.trimEnd().split("\n");
  assert.match(lines[0]!, says, `${what}: ${stderr}`);
  assert.ok(lines.length <= 2, `${what}: more than one line and a hint:\n${stderr}`);
  if (lines[1] !== undefined) assert.match(lines[1], /^(Try '.*'\.|hint: .+)$/, what);
  assert.doesNotMatch(stderr, /^\s+at |internal error|Uncaught/m, `${what}: a trace`);
}

Deno.test(`bad input: ${CASES.length} cases, one clear line, the documented code, nothing changed`, async () => {
  assert.ok(CASES.length >= 25);
  const before = hostState();
  for (const c of CASES) {
    using fake = c.fake ? new FakeRoot(c.fake) : undefined;
    const args = c.args.map((a) => a === "{root}" ? fake!.root : a);
    const fakeBefore = fake?.snapshot();
    const io = captureIO();
    const code = await run(args, io);
    const what = `virtio ${c.args.join(" ")}`;
    assert.equal(code, c.code, `${what} → exit ${code}: ${io.stderr}`);
    // The no-arguments case prints the usage on stdout; every other case says it on stderr.
    if (c.args.length === 0) assert.match(io.stdout.split("\n")[0]!, c.says, what);
    else assertOneClearLine(io.stderr, c.says, what);
    if (c.code === 2 && c.args.length > 0) assert.match(io.stderr, /\nTry 'virtio .*--help'\.\n$/);
    if (fake) assert.equal(fake.snapshot(), fakeBefore, `${what} changed the fake tree`);
  }
  assert.equal(hostState(), before, "a bad input changed this machine's devices or claims");
});

/** Runs main.ts as user nobody (uid 65534), which cannot write to sysfs at all. */
async function runAsNobody(args: string[]) {
  const denoDir = await Deno.makeTempDir({ prefix: "virtio-nobody-deno-" });
  await Deno.chmod(denoDir, 0o777);
  try {
    const out = await new Deno.Command("setpriv", {
      args: [
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        Deno.execPath(),
        "run",
        "-A",
        "--no-check",
        new URL("../../main.ts", import.meta.url).pathname,
        ...args,
      ],
      env: { DENO_DIR: denoDir, NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const dec = new TextDecoder();
    return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
  } finally {
    await Deno.remove(denoDir, { recursive: true });
  }
}

/**
 * A virtio NIC of this machine (pktgen refuses other types before the root check), only
 * ever read (its sysfs ids) by the refused command.
 */
function someHostVirtioDevice(): string | undefined {
  for (const e of Deno.readDirSync("/sys/bus/pci/devices")) {
    const read = (f: string) => Deno.readTextFileSync(`/sys/bus/pci/devices/${e.name}/${f}`).trim();
    if (read("vendor") === "0x1af4" && ["0x1041", "0x1000"].includes(read("device"))) return e.name;
  }
  return undefined;
}

const setpriv = {
  what: "setpriv (to run as nobody)",
  ok: (() => {
    try {
      return Deno.statSync("/usr/bin/setpriv").isFile;
    } catch {
      return false;
    }
  })(),
  ci: false,
};

hostTest("bad input: without root, a takeover and a bind are refused in one line, exit 1", [
  NEEDS.root,
  setpriv,
], async (t) => {
  const before = hostState();
  using fake = new FakeRoot();
  Deno.chmodSync(fake.root, 0o755); // readable by nobody, writable by root only
  const fakeBefore = fake.snapshot();
  const unbind = await runAsNobody(["unbind", NIC, "--root", fake.root]);
  assert.equal(unbind.code, 1, unbind.stderr);
  assertOneClearLine(unbind.stderr, /^virtio: unbind 0000:00:07\.0 needs root$/, "unbind");
  assert.match(unbind.stderr, /\nhint: run as root \(sudo\)\n$/);
  assert.equal(fake.snapshot(), fakeBefore);
  // The root check comes before anything is written; and uid 65534 could not write anyway.
  // A host without a virtio NIC of its own: that step shows as ignored, naming the lack.
  const device = someHostVirtioDevice();
  await t.step({
    name: `pktgen on this host's virtio NIC is refused${device ? "" : " [needs a virtio NIC]"}`,
    ignore: device === undefined,
    fn: async () => {
      const pktgen = await runAsNobody(["pktgen", device!, "-n", "1"]);
      assert.equal(pktgen.code, 1, pktgen.stderr);
      assertOneClearLine(
        pktgen.stderr,
        new RegExp(`^virtio: taking ${device} over needs root$`),
        "pktgen",
      );
    },
  });
  assert.equal(hostState(), before);
});
