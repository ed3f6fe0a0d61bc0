/** What the parts of a messaging client share (one instance per client). */
import type { ClientConfig } from 'ts-mls';
import type { DeviceKeys } from './device-keys.js';
import type { Emitter } from './events.js';
import type { GroupStore } from './group-store.js';
import type { Http } from './http.js';
import type { TrustManager } from './trust.js';
import type { ConversationView } from './wire-types.js';

export interface ClientContext {
  http: Http;
  keys: DeviceKeys;
  trust: TrustManager;
  groups: GroupStore;
  emitter: Emitter;
  config(): ClientConfig;
  /** The conversation as the server shows it (members only); cached briefly by the client. */
  conversation(id: string, fresh?: boolean): Promise<ConversationView>;
}
