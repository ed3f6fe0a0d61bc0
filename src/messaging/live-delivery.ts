import type { FeedSignal } from '../store/store.js';
import type { Channel } from '../channels/channel.js';
import type { CoreDeps } from '../core/context.js';
import type { ConversationReader, DeviceDirectory } from './messaging-types.js';
import { LiveHub } from './live-hub.js';
import { MessageNudges } from './message-nudges.js';

export interface LiveDeliveryDeps {
  core: CoreDeps;
  devices: DeviceDirectory;
  /** The patients' and staff's nudge channels (the configured SMS and e-mail adapters). */
  channels: { email?: Channel; sms?: Channel };
  /** The store's cross-node signal (PostgreSQL); absent on SQLite. */
  signal?: FeedSignal;
  organisationName: string;
  publicUrl: string;
  timeoutMs: number;
  /** How long a member device has to acknowledge before its person is nudged (default 30 s). */
  nudgeDelayMs?: number;
  /** Unsent bytes past which a live connection is dropped (default 1 MiB). */
  maxBufferedBytes?: number;
  /** Codes only. */
  onError: (e: unknown) => void;
}

/** Live delivery as the composition root holds it: the hub (the `MessageFeed`) and the nudges. */
export interface LiveDelivery {
  hub: LiveHub;
  nudges: MessageNudges;
  /**
   * The conversations part, once built: it needs the feed (the hub) to be built itself, so the hub
   * reads through this late binding. Until then a device has nothing to read.
   */
  readFrom(reader: ConversationReader): void;
  start(): void;
  stop(): Promise<void>;
}

export function buildLiveDelivery(d: LiveDeliveryDeps): LiveDelivery {
  let target: ConversationReader | null = null;
  const reader: ConversationReader = {
    memberDevices: async (...a) => (target ? target.memberDevices(...a) : []),
    eventsFor: async (...a) => (target ? target.eventsFor(...a) : []),
    conversationsOf: async (...a) => (target ? target.conversationsOf(...a) : []),
    acknowledge: async (...a) => target?.acknowledge(...a),
  };
  const nudges = new MessageNudges({
    core: d.core,
    reader,
    devices: d.devices,
    channels: d.channels,
    organisationName: d.organisationName,
    publicUrl: d.publicUrl,
    delayMs: d.nudgeDelayMs ?? 30_000,
    windowMs: 15 * 60_000,
    timeoutMs: d.timeoutMs,
    onError: d.onError,
  });
  const hub = new LiveHub({
    reader,
    signal: d.signal,
    maxBufferedBytes: d.maxBufferedBytes ?? 1 << 20,
    batch: 100,
    onPublished: (t, c, seq) => nudges.published(t, c, seq),
    onError: d.onError,
  });
  return {
    hub,
    nudges,
    readFrom: (r) => void (target = r),
    start: () => hub.start(),
    async stop() {
      hub.stop();
      await nudges.stop();
    },
  };
}
