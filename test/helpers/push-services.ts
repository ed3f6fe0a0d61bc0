import { createServer as createHttpsServer, type Server } from 'node:https';
import { createSecureServer, constants, type Http2SecureServer } from 'node:http2';
import { createECDH, generateKeyPairSync, randomBytes, randomUUID, type ECDH } from 'node:crypto';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { decodeProtectedHeader, importJWK, importSPKI, jwtVerify, type JWTPayload } from 'jose';
import { testTls } from './sealpost-harness.js';

/** http_ece (no bundled types): RFC 8188 content encoding, as a browser's push stack decrypts it. */
const ece = createRequire(import.meta.url)('http_ece') as {
  decrypt(body: Buffer, params: { version: string; privateKey: ECDH; authSecret: string }): Buffer;
};

/**
 * One certificate for every local push service (and the harness's server): services started together
 * must not each make their own, since several self-signed certificates of one subject in a trust
 * list do not verify.
 */
let tlsOnce: ReturnType<typeof testTls> | undefined;
const sharedTls = () => (tlsOnce ??= testTls());

function readBody(req: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

const listen = (s: Server | Http2SecureServer) =>
  new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as AddressInfo).port)));
const closeServer = (s: Server | Http2SecureServer) => new Promise<void>((resolve) => s.close(() => resolve()));

/** The uncompressed P-256 point (base64url) as a JWK, to verify a VAPID token with its `k`. */
function p256Jwk(raw: string) {
  const b = Buffer.from(raw, 'base64url');
  return {
    kty: 'EC',
    crv: 'P-256',
    x: b.subarray(1, 33).toString('base64url'),
    y: b.subarray(33, 65).toString('base64url'),
  };
}

export interface ReceivedPush {
  id: string;
  /** The decrypted payload, parsed. */
  payload: Record<string, unknown>;
  raw: string;
  headers: Record<string, string | string[] | undefined>;
  vapid: JWTPayload;
  vapidKey: string;
}

/**
 * A Web Push service (RFC 8030) over HTTPS on loopback: a browser's subscription is made here with
 * node:crypto (ECDH P-256 keys and a 16-byte auth secret); a push to it must carry a VAPID token
 * (RFC 8292) that verifies with the `k` it names, and its aes128gcm body (RFC 8291) is decrypted with
 * http_ece using the subscription's private key, as the browser would.
 */
export async function startWebPushService() {
  const tls = await sharedTls();
  const subs = new Map<string, { ecdh: ECDH; auth: string; status: number }>();
  const received: ReceivedPush[] = [];
  const refused: { id: string; reason: string }[] = [];
  let origin = '';
  const server = createHttpsServer({ key: tls.private, cert: tls.cert }, async (req, res) => {
    const body = await readBody(req);
    const m = /^\/push\/([A-Za-z0-9-]+)$/.exec(req.url ?? '');
    const sub = m && subs.get(m[1]!);
    if (req.method !== 'POST' || !m || !sub) return res.writeHead(404).end();
    const fail = (reason: string) => {
      refused.push({ id: m[1]!, reason });
      res.writeHead(400).end();
    };
    const auth = /^vapid t=([^,\s]+),\s*k=([A-Za-z0-9_-]+)$/.exec(String(req.headers.authorization ?? ''));
    if (!auth) return fail('no vapid authorization');
    let vapid: JWTPayload;
    try {
      vapid = (await jwtVerify(auth[1]!, await importJWK(p256Jwk(auth[2]!), 'ES256'), { audience: origin })).payload;
    } catch {
      return fail('vapid token does not verify');
    }
    if (req.headers['content-encoding'] !== 'aes128gcm') return fail('not aes128gcm');
    if (!req.headers.ttl) return fail('no TTL');
    if (sub.status !== 201) return res.writeHead(sub.status).end();
    let raw: string;
    try {
      raw = ece.decrypt(body, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.auth }).toString('utf8');
    } catch {
      return fail('does not decrypt');
    }
    received.push({
      id: m[1]!,
      payload: JSON.parse(raw) as Record<string, unknown>,
      raw,
      headers: req.headers,
      vapid,
      vapidKey: auth[2]!,
    });
    res.writeHead(201, { location: `${origin}/messages/${randomUUID()}` }).end();
  });
  const port = await listen(server);
  origin = `https://127.0.0.1:${port}`;
  return {
    origin,
    ca: tls.cert,
    received,
    refused,
    /** A browser's new subscription (the JSON of PushSubscription.toJSON()). */
    subscribe() {
      const id = randomUUID();
      const ecdh = createECDH('prime256v1');
      ecdh.generateKeys();
      const auth = randomBytes(16).toString('base64url');
      subs.set(id, { ecdh, auth, status: 201 });
      return {
        id,
        subscription: {
          endpoint: `${origin}/push/${id}`,
          expirationTime: null,
          keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth },
        },
      };
    },
    /** Later pushes to `id` are answered `status` (404/410: the browser unsubscribed). */
    answer(id: string, status: number) {
      subs.get(id)!.status = status;
    },
    close: () => closeServer(server),
  };
}

/**
 * FCM HTTP v1 over HTTPS on loopback: the OAuth token endpoint verifies the RS256 JWT assertion with
 * the service account's public key (audience, issuer, scope) and issues access tokens;
 * `POST /v1/projects/{project}/messages:send` takes only a live one. Tokens named gone answer as FCM
 * does for an uninstalled app (404 NOT_FOUND with errorCode UNREGISTERED).
 */
export async function startFcmEmulator(projectId = 'sealpost-test') {
  const tls = await sharedTls();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const clientEmail = `push@${projectId}.iam.gserviceaccount.com`;
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const accessTokens = new Set<string>();
  const gone = new Set<string>();
  const sent: { token: string; message: Record<string, any>; raw: string }[] = [];
  const tokenRequests: JWTPayload[] = [];
  let base = '';
  const server = createHttpsServer({ key: tls.private, cert: tls.cert }, async (req, res) => {
    const body = (await readBody(req)).toString('utf8');
    const json = (status: number, v: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(v));
    if (req.method === 'POST' && req.url === '/token') {
      const form = new URLSearchParams(body);
      if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer')
        return json(400, { error: 'unsupported_grant_type' });
      try {
        const { payload } = await jwtVerify(form.get('assertion') ?? '', await importSPKI(publicPem, 'RS256'), {
          audience: `${base}/token`,
          issuer: clientEmail,
        });
        if (payload.scope !== 'https://www.googleapis.com/auth/firebase.messaging') throw new Error('scope');
        tokenRequests.push(payload);
      } catch {
        return json(400, { error: 'invalid_grant' });
      }
      const t = `ya29.${randomBytes(24).toString('base64url')}`;
      accessTokens.add(t);
      return json(200, { access_token: t, expires_in: 3599, token_type: 'Bearer' });
    }
    if (req.method === 'POST' && req.url === `/v1/projects/${projectId}/messages:send`) {
      const bearer = /^Bearer (.+)$/.exec(String(req.headers.authorization ?? ''))?.[1];
      if (!bearer || !accessTokens.has(bearer))
        return json(401, {
          error: { code: 401, status: 'UNAUTHENTICATED', message: 'Request had invalid credentials.' },
        });
      const message = (JSON.parse(body) as { message: Record<string, any> }).message;
      if (gone.has(message.token))
        return json(404, {
          error: {
            code: 404,
            message: 'Requested entity was not found.',
            status: 'NOT_FOUND',
            details: [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode: 'UNREGISTERED' }],
          },
        });
      sent.push({ token: message.token, message, raw: body });
      return json(200, { name: `projects/${projectId}/messages/${randomUUID()}` });
    }
    res.writeHead(404).end();
  });
  const port = await listen(server);
  base = `https://127.0.0.1:${port}`;
  return {
    base,
    ca: tls.cert,
    serviceAccount: {
      projectId,
      clientEmail,
      privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    },
    /** The service-account key file, as Google hands it out (SEALPOST_FCM_SERVICE_ACCOUNT). */
    keyFile: () =>
      JSON.stringify({
        type: 'service_account',
        project_id: projectId,
        private_key_id: 'k1',
        private_key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        client_email: clientEmail,
        token_uri: `${base}/token`,
      }),
    tokenUrl: `${base}/token`,
    sent,
    tokenRequests,
    forget: (token: string) => gone.add(token),
    /** Every access token issued so far stops working (as after a key rotation). */
    revokeAccessTokens: () => accessTokens.clear(),
    close: () => closeServer(server),
  };
}

/**
 * APNs over HTTP/2 with TLS on loopback: `POST /3/device/{token}` must carry an ES256 provider token
 * (kid = key id, iss = team id) that verifies with the .p8 key's public half, and the topic. Counts
 * the distinct provider tokens seen (Apple refuses a new one more often than every 20 minutes).
 * Tokens named gone answer 410 Unregistered; bad ones 400 BadDeviceToken.
 */
export async function startApnsEmulator(opts: { keyId?: string; teamId?: string; topic?: string } = {}) {
  const keyId = opts.keyId ?? 'ABC123DEFG';
  const teamId = opts.teamId ?? 'TEAM123456';
  const topic = opts.topic ?? 'org.example.sealpost';
  const tls = await sharedTls();
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const publicPem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
  const providerTokens: string[] = [];
  const gone = new Set<string>();
  const bad = new Set<string>();
  const sent: { token: string; body: Record<string, any>; raw: string; headers: Record<string, unknown> }[] = [];
  const refused: string[] = [];
  const server = createSecureServer({ key: tls.private, cert: tls.cert, allowHTTP1: false });
  server.on('stream', (stream, headers) => {
    void (async () => {
      const raw = (await readBody(stream)).toString('utf8');
      const reply = (status: number, body?: unknown, extra: Record<string, string> = {}) => {
        stream.respond({ [constants.HTTP2_HEADER_STATUS]: status, ...extra });
        stream.end(body === undefined ? undefined : JSON.stringify(body));
      };
      const m = /^\/3\/device\/([0-9a-f]+)$/.exec(String(headers[constants.HTTP2_HEADER_PATH]));
      if (headers[constants.HTTP2_HEADER_METHOD] !== 'POST' || !m) return reply(404, { reason: 'BadPath' });
      const jwt = /^bearer (.+)$/.exec(String(headers.authorization ?? ''))?.[1];
      try {
        if (!jwt) throw new Error('none');
        const h = decodeProtectedHeader(jwt);
        if (h.alg !== 'ES256' || h.kid !== keyId) throw new Error('header');
        const { payload } = await jwtVerify(jwt, await importSPKI(publicPem, 'ES256'), { issuer: teamId });
        if (typeof payload.iat !== 'number') throw new Error('iat');
      } catch {
        refused.push('InvalidProviderToken');
        return reply(403, { reason: 'InvalidProviderToken' });
      }
      if (!providerTokens.includes(jwt)) providerTokens.push(jwt);
      if (headers['apns-topic'] !== topic) return reply(400, { reason: 'BadTopic' });
      if (gone.has(m[1]!)) return reply(410, { reason: 'Unregistered', timestamp: Date.now() });
      if (bad.has(m[1]!)) return reply(400, { reason: 'BadDeviceToken' });
      const id = String(headers['apns-id'] ?? randomUUID());
      sent.push({ token: m[1]!, body: JSON.parse(raw) as Record<string, any>, raw, headers });
      reply(200, undefined, { 'apns-id': id });
    })();
  });
  const port = await listen(server);
  return {
    base: `https://127.0.0.1:${port}`,
    ca: tls.cert,
    key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    keyId,
    teamId,
    topic,
    providerTokens,
    sent,
    refused,
    forget: (token: string) => gone.add(token),
    reject: (token: string) => bad.add(token),
    close: () => closeServer(server),
  };
}
