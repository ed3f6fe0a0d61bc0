/**
 * A browser key store: each record is encrypted with AES-256-GCM under a NON-EXTRACTABLE WebCrypto
 * key that is itself kept in IndexedDB (structured clone keeps it non-extractable). Script running
 * in the page can use the key but never read it, and a copy of the database files alone (a backup,
 * a disk image) does not give the records away where the browser protects key material. The record
 * name is the AAD, so records cannot be swapped between names.
 */
import type { KeyStore } from './key-store.js';

const RECORDS = 'records';
const META = 'meta';
const WRAPPING_KEY = 'wrapping-key';

interface SealedRecord {
  iv: Uint8Array;
  data: Uint8Array;
}

const req = <T>(r: IDBRequest<T>): Promise<T> =>
  new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });

export interface IndexedDbKeyStoreOptions {
  /** The database name (one per account and device; default `sealpost-keys`). */
  name?: string;
  /** The IndexedDB factory (default `globalThis.indexedDB`; tests pass fake-indexeddb's). */
  indexedDB?: IDBFactory;
}

export class IndexedDbKeyStore implements KeyStore {
  private constructor(
    private readonly db: IDBDatabase,
    private readonly key: CryptoKey,
  ) {}

  /** Opens (creating on first use) the database and its non-extractable record key. */
  static async open(options: IndexedDbKeyStoreOptions = {}): Promise<IndexedDbKeyStore> {
    const factory = options.indexedDB ?? globalThis.indexedDB;
    if (!factory) throw new Error('IndexedDB is not available here');
    const open = factory.open(options.name ?? 'sealpost-keys', 1);
    open.onupgradeneeded = () => {
      open.result.createObjectStore(RECORDS);
      open.result.createObjectStore(META);
    };
    const db = await req(open);
    let key = await req(db.transaction(META).objectStore(META).get(WRAPPING_KEY) as IDBRequest<CryptoKey | undefined>);
    if (!key) {
      const fresh = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
        'encrypt',
        'decrypt',
      ]);
      // add(), not put(): two tabs opening at once must not each keep a key of their own.
      const tx = db.transaction(META, 'readwrite');
      await req(tx.objectStore(META).add(fresh, WRAPPING_KEY)).catch(() => undefined);
      key = await req(db.transaction(META).objectStore(META).get(WRAPPING_KEY) as IDBRequest<CryptoKey>);
    }
    return new IndexedDbKeyStore(db, key!);
  }

  /** Closes the database connection. */
  close(): void {
    this.db.close();
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    const rec = await req(this.db.transaction(RECORDS).objectStore(RECORDS).get(name) as IDBRequest<SealedRecord>);
    if (!rec) return undefined;
    const plain = await globalThis.crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: rec.iv as Uint8Array<ArrayBuffer>, additionalData: new TextEncoder().encode(name) },
      this.key,
      rec.data as Uint8Array<ArrayBuffer>,
    );
    return new Uint8Array(plain);
  }

  async put(name: string, value: Uint8Array): Promise<void> {
    const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
    const data = new Uint8Array(
      await globalThis.crypto.subtle.encrypt(
        { name: 'AES-GCM', iv, additionalData: new TextEncoder().encode(name) },
        this.key,
        value as Uint8Array<ArrayBuffer>,
      ),
    );
    const tx = this.db.transaction(RECORDS, 'readwrite');
    tx.objectStore(RECORDS).put({ iv, data } satisfies SealedRecord, name);
    await done(tx);
  }

  async delete(name: string): Promise<void> {
    const tx = this.db.transaction(RECORDS, 'readwrite');
    tx.objectStore(RECORDS).delete(name);
    await done(tx);
  }

  async list(prefix: string): Promise<string[]> {
    const range = IDBKeyRange.bound(prefix, prefix + '\uffff', false, true);
    const keys = await req(this.db.transaction(RECORDS).objectStore(RECORDS).getAllKeys(range));
    return (keys as string[]).filter((k) => k.startsWith(prefix)).sort();
  }
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error('IndexedDB transaction aborted'));
  });
}
