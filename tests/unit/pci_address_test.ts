import assert from "node:assert/strict";
import { formatPciAddress, normalizePciAddress, parsePciAddress } from "../../lib/pci/address.ts";
import { UsageError } from "../../lib/errors.ts";

Deno.test("parsePciAddress reads domain, bus, device, function", () => {
  assert.deepEqual(parsePciAddress("0001:0a:1f.7"), {
    domain: 1,
    bus: 10,
    device: 31,
    function: 7,
  });
  assert.deepEqual(parsePciAddress("00:03.0"), { domain: 0, bus: 0, device: 3, function: 0 });
});

Deno.test("normalizePciAddress adds the domain and lower-cases", () => {
  assert.equal(normalizePciAddress("00:03.0"), "0000:00:03.0");
  assert.equal(normalizePciAddress("0000:0A:1F.1"), "0000:0a:1f.1");
  assert.equal(formatPciAddress({ domain: 0x10, bus: 1, device: 2, function: 3 }), "0010:01:02.3");
});

Deno.test("malformed PCI addresses are usage errors", () => {
  for (const bad of ["", "0:3.0", "00:03", "00:03.8", "0000:00:20.0", "zz:03.0", "00:03.0x"]) {
    assert.throws(() => parsePciAddress(bad), UsageError, bad);
  }
});
