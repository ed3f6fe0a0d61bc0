import {
  generateAuthenticationOptions,
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
} from '@simplewebauthn/server';
import type { Store, StoreTx } from '../store/store.js';
import { audit } from '../core/context.js';
import { AppError } from '../core/errors.js';
import type { MfaCaller, MfaService, SessionOutcome } from './mfa-service.js';

/** A challenge answers one ceremony within this time (W3C WebAuthn §13.4.3 recommends short-lived, single-use challenges). */
const CHALLENGE_TTL_MS = 5 * 60_000;
/** ES256, EdDSA, RS256: what platform authenticators and security keys offer today. */
const ALGORITHMS = [-7, -8, -257];

export interface WebAuthnDeps {
  store: Store;
  mfa: MfaService;
  clock: () => Date;
  newId: () => string;
  /** SEALPOST_PUBLIC_URL: its hostname is the RP ID, its origin the only accepted origin. */
  publicUrl: string;
}

/**
 * WebAuthn / passkeys as a second factor (W3C WebAuthn Level 3 via @simplewebauthn/server).
 * Challenges live in `auth_challenges`, bound to the session that asked for them, used once. The
 * signature counter is checked by the library and moved forward with a conditional update, so a
 * cloned authenticator or a replayed assertion is refused (§6.1.1).
 */
export class WebAuthnService {
  private readonly rpID: string;
  private readonly origin: string;

  constructor(private readonly deps: WebAuthnDeps) {
    const u = new URL(deps.publicUrl);
    this.rpID = u.hostname;
    this.origin = u.origin;
  }

  /** Options for navigator.credentials.create(): the user's existing credentials are excluded. */
  async registrationOptions(c: MfaCaller): Promise<PublicKeyCredentialCreationOptionsJSON> {
    const now = this.deps.clock();
    const out = await this.deps.store.transaction(async (tx) => {
      await this.deps.mfa.assertMayEnrol(tx, c, await this.deps.mfa.liveSession(tx, c), false);
      const user = await tx.mfa.userLabel(c.ctx.tenantId, c.userId);
      if (!user) throw new AppError('SP_AUTH_UNAUTHENTICATED');
      const existing = await tx.mfa.credentials(c.ctx.tenantId, c.userId);
      const options = await generateRegistrationOptions({
        rpName: 'Sealpost',
        rpID: this.rpID,
        // The user handle is the opaque user id, never the e-mail address (it is stored on the authenticator).
        userID: new TextEncoder().encode(c.userId),
        userName: user.email,
        userDisplayName: user.display_name,
        attestationType: 'none',
        excludeCredentials: existing.map((x) => ({ id: x.id, transports: splitTransports(x.transports) })),
        authenticatorSelection: { residentKey: 'preferred', userVerification: 'preferred' },
        supportedAlgorithmIDs: ALGORITHMS,
        timeout: CHALLENGE_TTL_MS,
      });
      await this.putChallenge(tx, c, 'webauthn_register', options.challenge, now.getTime());
      return options;
    });
    await this.deps.store.durable();
    return out;
  }

  /**
   * Verifies a new credential and stores it. A `mfa_enrol` session becomes `active` (rotated) with
   * amr `hwk` (device-bound key) or `swk` (synced passkey); recovery codes are issued as for TOTP.
   */
  async register(
    c: MfaCaller,
    response: RegistrationResponseJSON,
    name: string,
  ): Promise<{ session: SessionOutcome; recoveryCodes?: string[] }> {
    const now = this.deps.clock();
    return this.deps.mfa.attempt(c, 'webauthn', 'SP_AUTH_WEBAUTHN_FAILED', async (tx) => {
      const row = await this.deps.mfa.liveSession(tx, c);
      await this.deps.mfa.assertMayEnrol(tx, c, row, true);
      const challenge = await tx.challenges.take(c.ctx.tenantId, 'webauthn_register', c.sessionId, now.getTime());
      if (!challenge) return null;
      const v = await verifyRegistrationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        requireUserVerification: false,
        supportedAlgorithmIDs: ALGORITHMS,
      }).catch(() => null);
      if (!v?.verified) return null;
      const cred = v.registrationInfo.credential;
      if (await tx.mfa.credentialExists(cred.id)) return null;
      const inserted = await tx.mfa.insertCredential({
        id: cred.id,
        tenant_id: c.ctx.tenantId,
        user_id: c.userId,
        public_key: cred.publicKey,
        counter: cred.counter,
        transports: (cred.transports ?? []).join(' '),
        name,
        created_at: now.getTime(),
        last_used_at: null,
      });
      // Registered meanwhile by a racing request (one authenticator twice at once): not accepted.
      if (!inserted) return null;
      await audit(tx, c.ctx, now, {
        action: 'mfa.webauthn_registered',
        targetType: 'webauthn_credential',
        targetId: cred.id,
        details: { deviceType: v.registrationInfo.credentialDeviceType, userVerified: v.registrationInfo.userVerified },
      });
      return this.deps.mfa.afterEnrolment(
        tx,
        c,
        row,
        [keyAmr(v.registrationInfo.credentialDeviceType), 'mfa'],
        'webauthn',
      );
    });
  }

  /** Options for navigator.credentials.get() during sign-in (stage `mfa`): the user's credentials only. */
  async authenticationOptions(c: MfaCaller): Promise<PublicKeyCredentialRequestOptionsJSON> {
    const now = this.deps.clock();
    const out = await this.deps.store.transaction(async (tx) => {
      await this.deps.mfa.liveSession(tx, c, 'mfa');
      const creds = await tx.mfa.credentials(c.ctx.tenantId, c.userId);
      if (!creds.length) throw new AppError('SP_AUTH_MFA_NOT_ENROLLED');
      const options = await generateAuthenticationOptions({
        rpID: this.rpID,
        allowCredentials: creds.map((x) => ({ id: x.id, transports: splitTransports(x.transports) })),
        userVerification: 'preferred',
        timeout: CHALLENGE_TTL_MS,
      });
      await this.putChallenge(tx, c, 'webauthn_login', options.challenge, now.getTime());
      return options;
    });
    await this.deps.store.durable();
    return out;
  }

  /** The second step of sign-in with a security key or passkey: `mfa` → `active` (rotated). */
  async authenticate(c: MfaCaller, response: AuthenticationResponseJSON): Promise<SessionOutcome> {
    const now = this.deps.clock();
    return this.deps.mfa.attempt(c, 'webauthn', 'SP_AUTH_WEBAUTHN_FAILED', async (tx) => {
      const row = await this.deps.mfa.liveSession(tx, c, 'mfa');
      const challenge = await tx.challenges.take(c.ctx.tenantId, 'webauthn_login', c.sessionId, now.getTime());
      if (!challenge) return null;
      // Only the signed-in user's own credentials count; a passkey that names another user is refused.
      const cred = (await tx.mfa.credentials(c.ctx.tenantId, c.userId)).find((x) => x.id === response.id);
      const handle = response.response.userHandle;
      if (!cred || (handle && handle !== Buffer.from(c.userId, 'utf8').toString('base64url'))) return null;
      const stored = Number(cred.counter);
      const v = await verifyAuthenticationResponse({
        response,
        expectedChallenge: challenge.challenge,
        expectedOrigin: this.origin,
        expectedRPID: this.rpID,
        credential: {
          id: cred.id,
          publicKey: new Uint8Array(cred.public_key),
          counter: stored,
          transports: splitTransports(cred.transports),
        },
        requireUserVerification: false,
      }).catch(() => null);
      if (!v?.verified) return null;
      if (
        !(await tx.mfa.advanceCounter(c.ctx.tenantId, cred.id, stored, v.authenticationInfo.newCounter, now.getTime()))
      )
        return null;
      return this.deps.mfa.completeSignIn(
        tx,
        c,
        row,
        [keyAmr(v.authenticationInfo.credentialDeviceType), 'mfa'],
        'webauthn',
      );
    });
  }

  private async putChallenge(
    tx: StoreTx,
    c: MfaCaller,
    purpose: string,
    challenge: string,
    now: number,
  ): Promise<void> {
    // One live challenge per session and ceremony: asking again voids the previous one.
    await tx.challenges.retire(c.ctx.tenantId, purpose, c.sessionId, now);
    await tx.challenges.insert({
      id: this.deps.newId(),
      tenant_id: c.ctx.tenantId,
      purpose,
      subject: c.sessionId,
      challenge,
      created_at: now,
      expires_at: now + CHALLENGE_TTL_MS,
      used_at: null,
    });
  }
}

/** RFC 8176: `hwk` for a key bound to one device, `swk` for a synced (multi-device) passkey. */
const keyAmr = (deviceType: string) => (deviceType === 'multiDevice' ? 'swk' : 'hwk');
const splitTransports = (s: string) =>
  s.split(' ').filter(Boolean) as ('internal' | 'usb' | 'nfc' | 'ble' | 'hybrid')[];
