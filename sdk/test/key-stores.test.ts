import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { IDBFactory, IDBKeyRange } from 'fake-indexeddb';
import { MemoryKeyStore, type KeyStore } from '../src/keystore/key-store.js';
import { IndexedDbKeyStore } from '../src/keystore/indexeddb-key-store.js';
import { FileKeyStore } from '../src/node/file-key-store.js';

// fake-indexeddb's key ranges for the store's list(); a browser has its own.
(globalThis as { IDBKeyRange?: unknown }).IDBKeyRange ??= IDBKeyRange;

const dir = mkdtempSync(join(tmpdir(), 'sealpost-sdk-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const secret = new TextEncoder().encode('SECRET-MARKER-1234567890');

async function behavesAsAKeyStore(s: KeyStore) {
  expect(await s.get('device')).toBeUndefined();
  await s.put('device', secret);
  await s.put('group/c1', new Uint8Array([1, 2, 3]));
  await s.put('group/c2', new Uint8Array([4]));
  await s.put('kp/ab', new Uint8Array([5]));
  expect(await s.get('device')).toEqual(secret);
  expect(await s.list('group/')).toEqual(['group/c1', 'group/c2']);
  await s.put('group/c1', new Uint8Array([9]));
  expect(await s.get('group/c1')).toEqual(new Uint8Array([9]));
  await s.delete('group/c1');
  await s.delete('never-there');
  expect(await s.list('group/')).toEqual(['group/c2']);
}

describe('MemoryKeyStore', () => {
  it('stores, replaces, lists by prefix and deletes values', async () => {
    await behavesAsAKeyStore(new MemoryKeyStore());
  });
});

describe('FileKeyStore', () => {
  it('keeps the values across opens in one file that holds no plaintext and only its owner can read', async () => {
    const path = join(dir, 'a.keys');
    await behavesAsAKeyStore(await FileKeyStore.open(path, 'correct horse battery'));
    expect(readFileSync(path, 'utf8')).not.toContain('SECRET-MARKER');
    expect(readFileSync(path, 'utf8')).not.toContain(Buffer.from(secret).toString('base64'));
    expect(statSync(path).mode & 0o077).toBe(0);
    const again = await FileKeyStore.open(path, 'correct horse battery');
    expect(await again.get('device')).toEqual(secret);
    expect(await again.list('')).toEqual(['device', 'group/c2', 'kp/ab']);
  });

  it('refuses a wrong passphrase, an altered file and a short passphrase', async () => {
    const path = join(dir, 'b.keys');
    await (await FileKeyStore.open(path, 'correct horse battery')).put('device', secret);
    await expect(FileKeyStore.open(path, 'wrong horse battery')).rejects.toThrow(/wrong passphrase or altered file/);
    const f = JSON.parse(readFileSync(path, 'utf8'));
    const data = Buffer.from(f.data, 'base64');
    data[0] ^= 1;
    writeFileSync(path, JSON.stringify({ ...f, data: data.toString('base64') }));
    await expect(FileKeyStore.open(path, 'correct horse battery')).rejects.toThrow(/wrong passphrase or altered file/);
    await expect(FileKeyStore.open(join(dir, 'c.keys'), 'short')).rejects.toThrow(/8 characters/);
  });

  it('keeps every one of concurrent writes', async () => {
    const path = join(dir, 'd.keys');
    const s = await FileKeyStore.open(path, 'correct horse battery');
    await Promise.all(
      Array.from({ length: 20 }, (_, i) => s.put(`msg/${String(i).padStart(2, '0')}`, new Uint8Array([i]))),
    );
    const again = await FileKeyStore.open(path, 'correct horse battery');
    expect((await again.list('msg/')).length).toBe(20);
  });
});

describe('IndexedDbKeyStore', () => {
  it('stores records encrypted under a non-extractable key kept in the database', async () => {
    const indexedDB = new IDBFactory();
    const s = await IndexedDbKeyStore.open({ indexedDB, name: 'k1' });
    await behavesAsAKeyStore(s);
    s.close();

    // What the database holds: a non-extractable CryptoKey and sealed records, no plaintext.
    const db = await new Promise<IDBDatabase>((resolve, reject) => {
      const r = indexedDB.open('k1');
      r.onsuccess = () => resolve(r.result);
      r.onerror = () => reject(r.error);
    });
    const read = <T>(store: string, key: string) =>
      new Promise<T>((resolve) => {
        const r = db.transaction(store).objectStore(store).get(key);
        r.onsuccess = () => resolve(r.result as T);
      });
    const key = await read<CryptoKey>('meta', 'wrapping-key');
    expect(key.extractable).toBe(false);
    await expect(globalThis.crypto.subtle.exportKey('raw', key)).rejects.toThrow();
    const rec = await read<{ iv: Uint8Array; data: Uint8Array }>('records', 'device');
    expect(Buffer.from(rec.data).toString('latin1')).not.toContain('SECRET-MARKER');
    db.close();

    const again = await IndexedDbKeyStore.open({ indexedDB, name: 'k1' });
    expect(await again.get('device')).toEqual(secret);
    again.close();
  });

  it('refuses a record moved under another name', async () => {
    const indexedDB = new IDBFactory();
    const s = await IndexedDbKeyStore.open({ indexedDB, name: 'k2' });
    await s.put('device', secret);
    s.close();
    const db = await new Promise<IDBDatabase>((resolve) => {
      const r = indexedDB.open('k2');
      r.onsuccess = () => resolve(r.result);
    });
    await new Promise<void>((resolve) => {
      const tx = db.transaction('records', 'readwrite');
      const get = tx.objectStore('records').get('device');
      get.onsuccess = () => tx.objectStore('records').put(get.result, 'group/x');
      tx.oncomplete = () => resolve();
    });
    db.close();
    const again = await IndexedDbKeyStore.open({ indexedDB, name: 'k2' });
    await expect(again.get('group/x')).rejects.toThrow();
    again.close();
  });
});
