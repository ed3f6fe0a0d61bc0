/**
 * Attachments over HTTP: the upload and download routes take and give raw ciphertext
 * (application/octet-stream), which the typed JSON client does not carry, so they are called with
 * `fetch` here. What a message says about an attachment (`AttachmentReference`) travels inside the
 * MLS application message, never to the server in the clear.
 */
import type { RestClientOptions } from './rest-client.js';
import { decryptAttachment, encryptAttachment, type EncryptedAttachment } from './attachments.js';

/** What a message names: the server's id plus the secrets only members see (base64). */
export interface AttachmentReference {
  id: string;
  key: string;
  digest: string;
  size: number;
  /** Optional file name and media type, chosen by the sender (encrypted with the message). */
  name?: string;
  type?: string;
}

/** A refused request: the problem details' `code` (docs/errors.md) and HTTP status. */
export class AttachmentHttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string | undefined,
  ) {
    super(`attachment request refused: ${status}${code ? ` ${code}` : ''}`);
    this.name = 'AttachmentHttpError';
  }
}

function b64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function unb64(s: string): Uint8Array {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

async function request(baseUrl: string, o: RestClientOptions, path: string, init: RequestInit): Promise<Response> {
  const headers = new Headers(init.headers);
  const token = typeof o.token === 'function' ? o.token() : o.token;
  if (token) headers.set('authorization', `Bearer ${token}`);
  const res = await (o.fetch ?? globalThis.fetch)(`${baseUrl.replace(/\/+$/, '')}${path}`, {
    ...init,
    headers,
    credentials: 'same-origin',
  });
  if (!res.ok) {
    const body = (await res.json().catch(() => null)) as { code?: string } | null;
    throw new AttachmentHttpError(res.status, body?.code);
  }
  return res;
}

/** Uploads ciphertext as `deviceId` (a member device of the caller); resolves with the server's id. */
export async function uploadAttachment(
  baseUrl: string,
  o: RestClientOptions,
  conversationId: string,
  deviceId: string,
  ciphertext: Uint8Array,
): Promise<{ id: string; size: number }> {
  const path = `/v1/conversations/${encodeURIComponent(conversationId)}/attachments?deviceId=${encodeURIComponent(deviceId)}`;
  const res = await request(baseUrl, o, path, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: new Uint8Array(ciphertext),
  });
  return (await res.json()) as { id: string; size: number };
}

/** The ciphertext of an attachment, as uploaded. */
export async function downloadAttachment(
  baseUrl: string,
  o: RestClientOptions,
  conversationId: string,
  attachmentId: string,
): Promise<Uint8Array> {
  const path = `/v1/conversations/${encodeURIComponent(conversationId)}/attachments/${encodeURIComponent(attachmentId)}`;
  return new Uint8Array(await (await request(baseUrl, o, path, { method: 'GET' })).arrayBuffer());
}

/** Encrypts a file, uploads it, and returns the reference the message carries. */
export async function sendAttachment(
  baseUrl: string,
  o: RestClientOptions,
  conversationId: string,
  deviceId: string,
  file: Uint8Array | ReadableStream<Uint8Array>,
  meta: { name?: string; type?: string } = {},
): Promise<AttachmentReference> {
  const enc: EncryptedAttachment = await encryptAttachment(file);
  const { id } = await uploadAttachment(baseUrl, o, conversationId, deviceId, enc.ciphertext);
  return { id, key: b64(enc.key), digest: b64(enc.digest), size: enc.size, ...meta };
}

/** Downloads and opens the attachment a message named (refused when altered, cut or of another key). */
export async function receiveAttachment(
  baseUrl: string,
  o: RestClientOptions,
  conversationId: string,
  ref: AttachmentReference,
): Promise<Uint8Array> {
  const ciphertext = await downloadAttachment(baseUrl, o, conversationId, ref.id);
  return decryptAttachment(ciphertext, { key: unb64(ref.key), digest: unb64(ref.digest), size: ref.size });
}
