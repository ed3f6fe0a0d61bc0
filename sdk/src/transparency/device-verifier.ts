/**
 * Key transparency on the client: a member device is trusted only when the server's claim about it
 * holds up offline. (a) The binding (tenant, person, device, signature key) carries a valid Ed25519
 * signature of a published notary key valid at its issue time; (b) its registration audit entry
 * commits to this binding and is included (RFC 9162) in a checkpoint signed by the audit log's key;
 * (c) the binding's key is the key the MLS leaf uses; (d) it is not revoked. A device the server
 * adds without a log entry (a "ghost") fails (b); one it adds with an entry leaves signed evidence.
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { bytesEqual, fromBase64, fromBase64Url, sha256, toHex, utf8 } from '../encoding.js';
import { leafHash, verifyInclusion } from './merkle.js';
import { parseVerifierKey, verifiedCheckpoint, type VerifierKey } from './signed-note.js';
import type { MessagingDeviceView, PublishedKeys } from '../messaging/wire-types.js';

/** Why a device was refused (no key material, no content). */
export class DeviceVerificationError extends Error {
  constructor(
    readonly deviceId: string,
    readonly reason: string,
  ) {
    super(`device ${deviceId} is not trusted: ${reason}`);
    this.name = 'DeviceVerificationError';
  }
}

/** The keys a client trusts: notary keys (binding signatures) and the audit log's checkpoint key. */
export interface TrustAnchors {
  /** Notary keys as published (JWKs with kid, x and validity times). */
  notaryKeys: PublishedKeys['keys'];
  /** The C2SP verifier key of the audit log (`<origin>+<key id>+<key>`). */
  checkpointKey: string;
  /**
   * When this client first saw each notary key learned after pinning (kid → ISO time). Such a key
   * vouches only for bindings issued from then on (less `NOTARY_FIRST_SEEN_GRACE_MS`): a key the
   * server slips in later cannot make a binding look old by a backdated `notBefore`.
   */
  firstSeen?: Record<string, string>;
}

/** Clock skew and publication delay allowed between a key's first sight and the bindings it signs. */
export const NOTARY_FIRST_SEEN_GRACE_MS = 15 * 60_000;

/** What a verified device is: who it belongs to and the key its MLS leaf must carry. */
export interface VerifiedDevice {
  tenantId: string;
  deviceId: string;
  person: { kind: 'user' | 'patient'; id: string };
  signatureKey: Uint8Array;
  /** The audit log index of its registration. */
  logIndex: number;
}

/** The binding as signed; every member is checked for its type. */
interface Binding {
  v: 1;
  type: 'sealpost.device-binding';
  tenant: string;
  person: { kind: 'user' | 'patient'; id: string };
  device: string;
  signatureKey: string;
  issuedAt: string;
}

function parseBinding(s: string): Binding | null {
  try {
    const b = JSON.parse(s) as Binding;
    const ok =
      b?.v === 1 &&
      b.type === 'sealpost.device-binding' &&
      typeof b.tenant === 'string' &&
      typeof b.device === 'string' &&
      (b.person?.kind === 'user' || b.person?.kind === 'patient') &&
      typeof b.person.id === 'string' &&
      typeof b.signatureKey === 'string' &&
      typeof b.issuedAt === 'string' &&
      !Number.isNaN(Date.parse(b.issuedAt));
    return ok ? b : null;
  } catch {
    return null;
  }
}

/** The notary key `kid` when it was valid at `at` (epoch ms), as a raw Ed25519 key. */
function notaryKey(anchors: TrustAnchors, kid: string, at: number): Uint8Array | null {
  const k = anchors.notaryKeys.find((j) => j.kid === kid);
  if (!k || k.kty !== 'OKP' || k.crv !== 'Ed25519') return null;
  const raw = fromBase64Url(k.x);
  if (!raw || raw.length !== 32) return null;
  const from = Date.parse(k.notBefore ?? k.createdAt ?? '');
  if (!(at >= from)) return null;
  const seen = anchors.firstSeen?.[kid];
  if (seen !== undefined && !(at >= Date.parse(seen) - NOTARY_FIRST_SEEN_GRACE_MS)) return null;
  if (k.retiredAt !== undefined && !(at <= Date.parse(k.retiredAt))) return null;
  if (k.retiredAt === undefined && k.status !== undefined && k.status !== 'current') return null;
  return raw;
}

/**
 * Verifies a device view against the trust anchors; throws DeviceVerificationError with the first
 * check that failed. `expect` pins what the caller already knows (the MLS leaf's key and identity).
 */
export async function verifyDevice(
  view: MessagingDeviceView,
  anchors: TrustAnchors,
  expect: { tenantId?: string; deviceId?: string; signatureKey?: Uint8Array } = {},
): Promise<VerifiedDevice> {
  const id = typeof view?.deviceId === 'string' ? view.deviceId : '?';
  const refuse = (reason: string): never => {
    throw new DeviceVerificationError(id, reason);
  };
  if (expect.deviceId !== undefined && view.deviceId !== expect.deviceId) refuse('the server answered another device');
  if (expect.tenantId !== undefined && view.tenantId !== expect.tenantId) refuse('the device is of another tenant');

  // (d) Not revoked (a revocation entry, even unconfirmed, is the server's own word).
  if (view.status !== 'active' || view.revokedAt || view.revocation) refuse('the device is revoked');

  // (a) The binding and its notary signature.
  const binding = typeof view.binding === 'string' ? parseBinding(view.binding) : null;
  if (!binding) return refuse('the binding is malformed');
  if (binding.tenant !== view.tenantId || binding.device !== view.deviceId) refuse('the binding names another device');
  if (binding.person.kind !== view.person?.kind || binding.person.id !== view.person?.id)
    refuse('the binding names another person');
  const key = notaryKey(anchors, view.keyId, Date.parse(binding.issuedAt));
  if (!key) return refuse('the binding is not signed by a published notary key valid at its issue time');
  const sig = fromBase64(view.signature);
  const bindingBytes = utf8(view.binding);
  let signed = false;
  try {
    signed = !!sig && sig.length === 64 && ed25519.verify(sig, bindingBytes, key, { zip215: false });
  } catch {
    signed = false;
  }
  if (!signed) refuse('the binding signature does not verify');

  // (c) The bound key is the key the view and the MLS leaf carry.
  const bound = fromBase64(binding.signatureKey);
  if (!bound || bound.length !== 32) return refuse('the bound signature key is malformed');
  if (binding.signatureKey !== view.signatureKey) refuse('the binding binds another signature key');
  if (expect.signatureKey && !bytesEqual(expect.signatureKey, bound))
    refuse('the MLS leaf uses another signature key than the binding');

  // (b) The registration entry commits to this binding and is in a checkpoint of the audit log.
  const logIndex = await verifyRegistration(view, anchors, toHex(await sha256(bindingBytes)), refuse);
  return { tenantId: view.tenantId, deviceId: view.deviceId, person: binding.person, signatureKey: bound, logIndex };
}

async function verifyRegistration(
  view: MessagingDeviceView,
  anchors: TrustAnchors,
  bindingHash: string,
  refuse: (reason: string) => never,
): Promise<number> {
  const a = view.registration;
  if (!a || a.status !== 'anchored') return refuse('the registration is not anchored in the audit log yet');
  let e: Record<string, any> | null = null;
  try {
    e = JSON.parse(a.entry) as Record<string, any>;
  } catch {
    e = null;
  }
  if (
    !e ||
    e.action !== 'messaging.device.registered' ||
    e.outcome !== 'success' ||
    e.tenant !== view.tenantId ||
    e.target?.type !== 'device' ||
    e.target?.id !== view.deviceId ||
    e.details?.bindingHash !== bindingHash ||
    e.details?.keyId !== view.keyId
  )
    refuse('the audit entry is not the registration of this binding');
  const vkey: VerifierKey | null = await parseVerifierKey(anchors.checkpointKey);
  if (!vkey) return refuse('the checkpoint key is malformed');
  if (
    anchors.notaryKeys.some((k) => {
      const x = fromBase64Url(k.x);
      return !!x && bytesEqual(x, vkey.publicKey);
    })
  )
    refuse('the checkpoint key is a notary key (they must be distinct)');
  const cp = await verifiedCheckpoint(a.checkpoint, vkey);
  if (!cp) return refuse('the checkpoint is not signed by the audit log key');
  const path = Array.isArray(a.inclusion) ? a.inclusion.map(fromBase64) : [null];
  if (
    cp.size !== a.treeSize ||
    path.some((h) => !h) ||
    !(await verifyInclusion(await leafHash(utf8(a.entry)), a.index, cp.size, path as Uint8Array[], cp.root))
  )
    refuse('the registration entry is not in the checkpointed log (inclusion proof fails)');
  return a.index;
}
