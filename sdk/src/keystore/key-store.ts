/**
 * Where a messaging client keeps its secrets: the device's signature private key, the private halves
 * of its key packages, every conversation's MLS group state, the trust anchors it pinned on first
 * use, and its local copies of messages. Values are opaque bytes; names are short ASCII paths
 * (`device`, `kp/<ref>`, `group/<conversation>`, `msg/<conversation>/<seq>`…).
 *
 * Implementations: `MemoryKeyStore` (tests, throw-away clients), `FileKeyStore` (Node, one file
 * encrypted under a passphrase; import from `@sealpost/sdk/node`), `IndexedDbKeyStore` (browsers,
 * records encrypted with a non-extractable AES-GCM key kept in IndexedDB).
 */
export interface KeyStore {
  /** The value stored under `name`, or undefined. */
  get(name: string): Promise<Uint8Array | undefined>;
  /** Stores `value` under `name` (replacing any), durably once the promise resolves. */
  put(name: string, value: Uint8Array): Promise<void>;
  /** Deletes `name` (no error when absent). */
  delete(name: string): Promise<void>;
  /** The names that start with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
}

/** A key store in memory: gone with the process (tests, bots that register afresh on each start). */
export class MemoryKeyStore implements KeyStore {
  private readonly map = new Map<string, Uint8Array>();

  async get(name: string): Promise<Uint8Array | undefined> {
    const v = this.map.get(name);
    return v && v.slice();
  }

  async put(name: string, value: Uint8Array): Promise<void> {
    this.map.set(name, value.slice());
  }

  async delete(name: string): Promise<void> {
    this.map.delete(name);
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix)).sort();
  }
}

/** JSON helpers over a key store (the client keeps small records as JSON). */
export async function getJson<T>(store: KeyStore, name: string): Promise<T | undefined> {
  const v = await store.get(name);
  return v === undefined ? undefined : (JSON.parse(new TextDecoder().decode(v)) as T);
}

export function putJson(store: KeyStore, name: string, value: unknown): Promise<void> {
  return store.put(name, new TextEncoder().encode(JSON.stringify(value)));
}
