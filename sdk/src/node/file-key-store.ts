/**
 * A Node key store in ONE file, encrypted under a passphrase: the key is scrypt(passphrase, salt)
 * (N = 2^15, r = 8, p = 1: about 32 MiB and a tenth of a second, once per open), the content is
 * AES-256-GCM with a fresh nonce on every write. Writes go to a temporary file renamed over the old
 * one, so a crash leaves the old or the new file, never half of one. The file is created 0600.
 */
import { createCipheriv, createDecipheriv, randomBytes, scrypt } from 'node:crypto';
import { readFile, rename, writeFile } from 'node:fs/promises';
import type { KeyStore } from '../keystore/key-store.js';

const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

interface FileFormat {
  v: 1;
  kdf: { name: 'scrypt'; N: number; r: number; p: number; salt: string };
  iv: string;
  tag: string;
  data: string;
}

function deriveKey(passphrase: string, salt: Buffer, p: { N: number; r: number; p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(passphrase.normalize('NFC'), salt, 32, { ...SCRYPT, ...p }, (err, key) =>
      err ? reject(err) : resolve(key),
    ),
  );
}

export class FileKeyStore implements KeyStore {
  private chain: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly path: string,
    private readonly key: Buffer,
    private readonly salt: Buffer,
    private readonly records: Map<string, Uint8Array>,
  ) {}

  /**
   * Opens the store at `path`, creating it when absent. Throws when the passphrase is wrong or the
   * file was altered (the GCM tag does not verify): nothing is read from such a file.
   */
  static async open(path: string, passphrase: string): Promise<FileKeyStore> {
    if (typeof passphrase !== 'string' || passphrase.length < 8)
      throw new Error('the passphrase must have 8 characters or more');
    let text: string | null = null;
    try {
      text = await readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (text === null) {
      const salt = randomBytes(16);
      const store = new FileKeyStore(path, await deriveKey(passphrase, salt, SCRYPT), salt, new Map());
      await store.flush();
      return store;
    }
    const f = JSON.parse(text) as FileFormat;
    if (f.v !== 1 || f.kdf?.name !== 'scrypt') throw new Error('not a Sealpost key store file');
    const salt = Buffer.from(f.kdf.salt, 'base64');
    const key = await deriveKey(passphrase, salt, f.kdf);
    let plain: Buffer;
    try {
      const d = createDecipheriv('aes-256-gcm', key, Buffer.from(f.iv, 'base64'));
      d.setAuthTag(Buffer.from(f.tag, 'base64'));
      plain = Buffer.concat([d.update(Buffer.from(f.data, 'base64')), d.final()]);
    } catch {
      throw new Error('the key store cannot be opened: wrong passphrase or altered file');
    }
    const entries = Object.entries(JSON.parse(plain.toString('utf8')) as Record<string, string>);
    return new FileKeyStore(
      path,
      key,
      salt,
      new Map(entries.map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
    );
  }

  async get(name: string): Promise<Uint8Array | undefined> {
    const v = this.records.get(name);
    return v && v.slice();
  }

  async put(name: string, value: Uint8Array): Promise<void> {
    this.records.set(name, value.slice());
    await this.flush();
  }

  async delete(name: string): Promise<void> {
    if (this.records.delete(name)) await this.flush();
  }

  async list(prefix: string): Promise<string[]> {
    return [...this.records.keys()].filter((k) => k.startsWith(prefix)).sort();
  }

  /** Writes the whole store; writes are serialized so the last one on disk is the newest state. */
  private flush(): Promise<void> {
    const write = async () => {
      const iv = randomBytes(12);
      const c = createCipheriv('aes-256-gcm', this.key, iv);
      const plain = JSON.stringify(
        Object.fromEntries([...this.records].map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
      );
      const data = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
      const file: FileFormat = {
        v: 1,
        kdf: { name: 'scrypt', N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p, salt: this.salt.toString('base64') },
        iv: iv.toString('base64'),
        tag: c.getAuthTag().toString('base64'),
        data: data.toString('base64'),
      };
      const tmp = `${this.path}.${randomBytes(4).toString('hex')}.tmp`;
      await writeFile(tmp, JSON.stringify(file), { mode: 0o600 });
      await rename(tmp, this.path);
    };
    const next = this.chain.then(write, write);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
