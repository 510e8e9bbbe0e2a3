/**
 * Fakes for testing scripts without hardware: DMA memory over plain buffers and a simulated
 * device that plays the other end of split and packed virtqueues.
 *
 * @module
 */

export { DmaFault, FakeDma, type FakeDmaOptions } from "./fake_dma.ts";
export { type SimBuffer, SimProtocolError, SimQueue, type SimQueueOptions } from "./sim_device.ts";
export { SimNetLoopback, type SimNetOptions } from "./sim_net.ts";
export {
  type DeviceState,
  FakeBar,
  type FakeDeviceOptions,
  FakeLegacyBar,
  FakeModernBar,
  type QueueProgram,
} from "./fake_virtio_pci.ts";
export { FakeBarRegion, FakeConfigSpace, LoggedBytes } from "./fake_config_space.ts";
export { type RecordingIO, recordingIO } from "./recording_io.ts";
