import { isLoopbackHost } from './loopback.js';

/** The parts of a Google service-account key file (JSON) that FCM HTTP v1 needs. */
export interface FcmServiceAccount {
  projectId: string;
  clientEmail: string;
  /** PKCS#8 PEM (RS256 signing key of the JWT assertion). */
  privateKey: string;
  privateKeyId?: string;
}

/** Push notifications to patients' devices (docs/push.md). */
export interface PushSettings {
  /** SEALPOST_VAPID_SUBJECT: the `sub` of VAPID JWTs (a mailto: or https: contact for push services). */
  vapidSubject: string;
  /** FCM HTTP v1, when SEALPOST_FCM_SERVICE_ACCOUNT is set. */
  fcm: { serviceAccount: FcmServiceAccount; baseUrl: string; tokenUrl: string } | null;
  /** APNs, when SEALPOST_APNS_KEY is set (with its key id, team id and topic). */
  apns: {
    /** The .p8 signing key (PKCS#8 PEM, P-256). */
    key: string;
    keyId: string;
    teamId: string;
    /** The app's bundle id (apns-topic). */
    topic: string;
    baseUrl: string;
    /** How long one provider token is used before a new one is made (Apple: between 20 and 60 minutes). */
    tokenRefreshMinutes: number;
  } | null;
}

type Reader = {
  str: (name: string, def?: string) => string | undefined;
  secret: (name: string) => string | undefined;
  int: (name: string, def: number, min: number, max: number) => number;
};

/** https, or http to a loopback host only (a bearer token or a provider token would travel in clear). */
function baseUrlOk(raw: string): boolean {
  try {
    const u = new URL(raw);
    if (u.username || u.password || u.search || u.hash) return false;
    return u.protocol === 'https:' || (u.protocol === 'http:' && isLoopbackHost(u.hostname));
  } catch {
    return false;
  }
}

const KEY_ID = /^[A-Za-z0-9]{1,64}$/;
const TOPIC = /^[A-Za-z0-9.-]{1,255}$/;

/**
 * Reads SEALPOST_VAPID_*, SEALPOST_FCM_* and SEALPOST_APNS_*, every variable whether or not its service
 * is configured (a misspelling is then reported). Problems are pushed to `errors`, never the secrets.
 */
export function pushSettings({ str, secret, int }: Reader, publicUrl: string, errors: string[]): PushSettings {
  // Push services reject a localhost subject (and web-push warns on each send): then a mailto: stands in.
  const local = /^https:\/\/(localhost|127\.|\[::1\])/.test(publicUrl);
  const vapidSubject = str('VAPID_SUBJECT', local ? 'mailto:postmaster@localhost' : publicUrl)!;
  if (!/^(mailto:[^\s@]+@[^\s@]+|https:\/\/\S+)$/.test(vapidSubject))
    errors.push('SEALPOST_VAPID_SUBJECT: expected a mailto: address or an https URL');

  const fcmJson = secret('FCM_SERVICE_ACCOUNT');
  const fcmBase = str('FCM_BASE_URL', 'https://fcm.googleapis.com')!.replace(/\/+$/, '');
  const fcmToken = str('FCM_TOKEN_URL');
  let fcm: PushSettings['fcm'] = null;
  if (!baseUrlOk(fcmBase))
    errors.push('SEALPOST_FCM_BASE_URL: expected an https URL (http only to a loopback address)');
  if (fcmToken !== undefined && !baseUrlOk(fcmToken))
    errors.push('SEALPOST_FCM_TOKEN_URL: expected an https URL (http only to a loopback address)');
  if (fcmJson !== undefined) {
    const account = parseServiceAccount(fcmJson);
    if (!account) {
      errors.push(
        'SEALPOST_FCM_SERVICE_ACCOUNT: expected a service-account key file (JSON with project_id, client_email, private_key)',
      );
    } else {
      const tokenUrl = fcmToken ?? account.tokenUri ?? 'https://oauth2.googleapis.com/token';
      if (!baseUrlOk(tokenUrl))
        errors.push('SEALPOST_FCM_SERVICE_ACCOUNT: token_uri must be an https URL (or set SEALPOST_FCM_TOKEN_URL)');
      fcm = { serviceAccount: account.account, baseUrl: fcmBase, tokenUrl };
    }
  }

  const key = secret('APNS_KEY');
  const keyId = str('APNS_KEY_ID');
  const teamId = str('APNS_TEAM_ID');
  const topic = str('APNS_TOPIC');
  const apnsBase = str('APNS_BASE_URL', 'https://api.push.apple.com')!.replace(/\/+$/, '');
  const tokenRefreshMinutes = int('APNS_TOKEN_REFRESH_MINUTES', 40, 20, 60);
  let apns: PushSettings['apns'] = null;
  // APNs speaks HTTP/2 over TLS only.
  if (!/^https:\/\//.test(apnsBase) || !baseUrlOk(apnsBase))
    errors.push('SEALPOST_APNS_BASE_URL: expected an https URL');
  if (key !== undefined || keyId !== undefined || teamId !== undefined || topic !== undefined) {
    if (key === undefined || !/-----BEGIN PRIVATE KEY-----/.test(key))
      errors.push('SEALPOST_APNS_KEY: expected the .p8 key (PEM) when APNs is configured');
    if (keyId === undefined || !KEY_ID.test(keyId)) errors.push('SEALPOST_APNS_KEY_ID: expected the key id');
    if (teamId === undefined || !KEY_ID.test(teamId)) errors.push('SEALPOST_APNS_TEAM_ID: expected the team id');
    if (topic === undefined || !TOPIC.test(topic)) errors.push("SEALPOST_APNS_TOPIC: expected the app's bundle id");
    if (key && keyId && teamId && topic) apns = { key, keyId, teamId, topic, baseUrl: apnsBase, tokenRefreshMinutes };
  }
  return { vapidSubject, fcm, apns };
}

function parseServiceAccount(raw: string): { account: FcmServiceAccount; tokenUri?: string } | null {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(raw) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (typeof j !== 'object' || j === null) return null;
  const { project_id, client_email, private_key, private_key_id, token_uri } = j;
  if (typeof project_id !== 'string' || !/^[a-z0-9-]{1,64}$/.test(project_id)) return null;
  if (typeof client_email !== 'string' || !client_email.includes('@')) return null;
  if (typeof private_key !== 'string' || !private_key.includes('-----BEGIN PRIVATE KEY-----')) return null;
  return {
    account: {
      projectId: project_id,
      clientEmail: client_email,
      privateKey: private_key,
      ...(typeof private_key_id === 'string' ? { privateKeyId: private_key_id } : {}),
    },
    ...(typeof token_uri === 'string' ? { tokenUri: token_uri } : {}),
  };
}
