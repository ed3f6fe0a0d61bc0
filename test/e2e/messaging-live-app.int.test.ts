import { generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSealpost, type Harness } from '../helpers/sealpost-harness.js';
import { staffWithSession, type TestPerson } from '../helpers/identity.js';
import { eventually } from '../helpers/sealpost-harness.js';
import { sdkClient } from '../../sdk/test/helpers/sdk-clients.js';

const MARKER = 'PHI-MARKER-live-5d1c';

/** The live route as the real server wires it (SQLite, HTTPS, real sessions and messaging devices). */
describe('live delivery route in the running server', () => {
  let h: Harness;
  let alice: TestPerson;
  let bob: TestPerson;
  let aliceDevice: string;

  const rawEd25519 = () => {
    const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
    return Buffer.from(jwk.x!, 'base64url').toString('base64');
  };

  beforeAll(async () => {
    h = await startSealpost({ SEALPOST_MESSAGING_NUDGE_DELAY_SECONDS: '1', SEALPOST_WORKER: 'false' });
    [alice, bob] = await Promise.all([staffWithSession(h, ['nurse']), staffWithSession(h, ['physician'])]);
    const r = await h.request(
      'POST',
      '/v1/messaging/devices',
      { name: 'laptop', platform: 'cli', signatureKey: rawEd25519() },
      alice.headers,
    );
    expect(r.status).toBe(201);
    aliceDevice = r.body.deviceId;
  }, 60_000);
  afterAll(() => h?.close());

  /** The upgrade's answer: 101 when accepted, else the HTTP status of the refusal. */
  function upgrade(deviceId: string, headers: Record<string, string>) {
    const ws = new WebSocket(`${h.url.replace('https:', 'wss:')}/v1/messaging/live?deviceId=${deviceId}`, {
      headers,
      ca: h.cert,
    });
    const status = new Promise<number>((res) => {
      ws.on('open', () => res(101));
      ws.on('unexpected-response', (_q, r) => {
        res(r.statusCode ?? 0);
        r.resume();
        ws.terminate();
      });
      ws.on('error', () => res(0));
    });
    return { ws, status };
  }

  it("accepts the caller's own messaging device and refuses everyone else's", async () => {
    const ok = upgrade(aliceDevice, alice.headers);
    expect(await ok.status).toBe(101);
    const closed = new Promise((r) => ok.ws.on('close', r));
    ok.ws.close();
    await closed;
    expect(await upgrade(aliceDevice, bob.headers).status).toBe(403);
    expect(await upgrade(aliceDevice, {}).status).toBe(401);
    expect(await upgrade(aliceDevice, { authorization: `Bearer ${h.apiKey}` }).status).toBe(403);
  });

  it('answers a plain GET with 426 and lists the route in the OpenAPI document', async () => {
    const r = await h.request('GET', `/v1/messaging/live?deviceId=${aliceDevice}`, undefined, alice.headers);
    expect(r.status).toBe(426);
    expect(r.body.code).toBe('SP_MESSAGING_LIVE_UPGRADE_REQUIRED');
    const spec = (await h.request('GET', '/openapi.json')).body as { paths: Record<string, unknown> };
    expect(Object.keys(spec.paths)).toContain('/v1/messaging/live');
  });

  it('nudges a member who did not receive a message live, once per window, with no content or names', async () => {
    const nurse = await staffWithSession(h, ['nurse'], 'default', `nurse.${MARKER.toLowerCase()}@staff.test`);
    const doctor = await staffWithSession(h, ['physician']);
    const n = await sdkClient(h, nurse.token, 'nurse');
    const d = await sdkClient(h, doctor.token, 'doctor');
    try {
      const conv = (
        await n.client.createConversation({ kind: 'group', members: [{ kind: 'user', id: doctor.userId }] })
      ).id;
      // The doctor's device is a member (the commit added it) but is offline and acknowledges nothing.
      await n.client.send(conv, `${MARKER} potassium 6.1 for bed 4`);
      await n.client.send(conv, `${MARKER} second message`);
      const secondSentAt = Date.now();
      const outbox = async () =>
        ((await h.request('GET', '/v1/dev/outbox')).body.items as { recipient: string; body: string }[]).filter((m) =>
          m.body.includes('new secure message'),
        );
      await eventually(async () => (await outbox()).length > 0, 'the nudge in the dev outbox');
      // The second message's look comes 1 s after it was sent: give it well past that before counting.
      await new Promise((r) => setTimeout(r, Math.max(0, secondSentAt + 3000 - Date.now())));
      const nudges = await outbox();
      expect(nudges.map((m) => m.recipient)).toEqual([`${doctor.userId}@staff.test`]);
      expect(JSON.stringify(nudges)).not.toContain(MARKER);
      expect(JSON.stringify(nudges)).not.toContain('potassium');
      expect(JSON.stringify(nudges)).not.toContain(nurse.userId);
    } finally {
      n.client.close();
      d.client.close();
    }
  });
});
