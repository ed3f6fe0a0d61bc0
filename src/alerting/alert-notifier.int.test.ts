import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../../test/helpers/backends.js';
import { startTwilioEmulator, type TwilioEmulator } from '../../test/helpers/twilio-emulator.js';
import { generateTestCertificate, startSmtpSink, type SmtpSink } from '../../test/helpers/smtp-sink.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../test/helpers/webhook-receiver.js';
import { PHI_MARKER } from '../core/templates/template-test-fixtures.js';
import type { KyselyStore } from '../store/kysely-store.js';
import type { Store } from '../store/store.js';
import { LocalKeyring } from '../crypto/local-keyring.js';
import { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import { TwilioSmsChannel } from '../channels/sms/twilio-sms-channel.js';
import { SmtpEmailChannel } from '../channels/email/smtp-email-channel.js';
import { HttpWebhookChannel } from '../channels/webhook/http-webhook-channel.js';
import { SnppPagingChannel } from '../channels/paging/snpp-paging-channel.js';
import { startSnppServer } from '../../test/helpers/snpp-server.js';
import type { Channel } from '../channels/channel.js';
import { AlertDispatcher } from './alert-dispatcher.js';
import { AlertNotifierService } from './alert-notifier.js';
import { StaffContactService, type StaffContact } from './staff-contacts.js';
import type { AlertForNotify, AlertChannel } from './alert-types.js';

const SID = 'AC00000000000000000000000000000001';
const TOKEN = 'twilio-test-token';
const ctx = { tenantId: 't1', actor: 'system:test' };
const LEASE = 30_000;

interface Rig {
  db: TestDatabase;
  store: KyselyStore;
  clock: { now: Date };
  twilio: TwilioEmulator;
  smtp: SmtpSink;
  hook: WebhookReceiver;
  channels: Partial<Record<AlertChannel, Channel>>;
  cipher: EnvelopeCipher;
  contacts: StaffContactService;
  errors: unknown[];
  node(owner: string, on?: Store): { notifier: AlertNotifierService; dispatcher: AlertDispatcher };
}

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let seq = 0;
const newId = () => `n${String(++seq).padStart(6, '0')}`;

async function rig(db: TestDatabase): Promise<Rig> {
  const store = await migratedStore(db);
  cleanups.push(() => store.close());
  const { keyring } = LocalKeyring.openOrCreate(join(mkdtempSync(join(tmpdir(), 'sp-alert-')), 'keyring.json'));
  const cipher = new EnvelopeCipher(keyring);
  const twilio = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
  const smtp = await startSmtpSink();
  const certificate = await generateTestCertificate();
  const hook = await startWebhookReceiver({ secret: 'hook-secret', tls: true, certificate });
  cleanups.push(
    () => twilio.close(),
    () => smtp.close(),
    () => hook.close(),
  );
  const email = new SmtpEmailChannel({
    host: '127.0.0.1',
    port: smtp.port,
    security: 'starttls',
    ca: smtp.cert,
    from: 'Clinic <no-reply@clinic.test>',
    timeoutMs: 5_000,
  });
  cleanups.push(() => email.close());
  const channels: Partial<Record<AlertChannel, Channel>> = {
    sms: new TwilioSmsChannel({
      baseUrl: twilio.baseUrl,
      accountSid: SID,
      authToken: TOKEN,
      from: '+15005550006',
      statusCallbackUrl: 'https://127.0.0.1:1/v1/providers/twilio/status',
      timeoutMs: 5_000,
    }),
    email,
    webhook: new HttpWebhookChannel({
      secret: 'hook-secret',
      timeoutMs: 5_000,
      allowedHosts: ['127.0.0.1'],
      ca: certificate.cert,
    }),
  };
  const clock = { now: new Date('2026-01-10T12:00:00Z') };
  await store.read.tenants.ensure('t1', 'Clinic', 1);
  const errors: unknown[] = [];
  const node = (owner: string, on: Store = store) => {
    const dispatcher = new AlertDispatcher(
      on,
      channels,
      {
        owner,
        organisationName: 'General Hospital',
        publicUrl: 'https://sealpost.example',
        leaseMs: LEASE,
        pollMs: 60_000,
        maxAttempts: 3,
        backoffBaseMs: 1_000,
        backoffCapMs: 1_000,
        timeoutMs: 5_000,
        concurrency: 4,
      },
      () => clock.now,
      (e) => errors.push(e),
    );
    cleanups.push(() => dispatcher.stop());
    return { dispatcher, notifier: new AlertNotifierService({ cipher, newId, dispatcher, owner, leaseMs: LEASE }) };
  };
  const contacts = new StaffContactService({ store, clock: () => clock.now }, ['127.0.0.1']);
  return { db, store, clock, twilio, smtp, hook, channels, cipher, contacts, errors, node };
}

async function staff(r: Rig, id: string, contacts: StaffContact[], settings: Record<string, unknown> = {}) {
  await r.store.transaction((tx) =>
    tx.users.insert({
      id,
      tenant_id: 't1',
      email: `${id}@clinic.test`,
      display_name: `Nurse ${id}`,
      roles: 'nurse',
      status: 'active',
      password_hash: null,
      locked_until: null,
      sso_issuer: null,
      sso_subject: null,
      created_at: 1,
      updated_at: 1,
    }),
  );
  await r.contacts.put(ctx, id, {
    contacts,
    settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null, ...settings },
  });
}

const alert = (id: string, over: Partial<AlertForNotify> = {}): AlertForNotify => ({
  id,
  tenantId: 't1',
  priority: 'medium',
  summary: 'Critical potassium result',
  step: 0,
  repeat: 0,
  ...over,
});

async function plan(
  n: { notifier: AlertNotifierService },
  r: Rig,
  a: AlertForNotify,
  users: string[],
  channels: AlertChannel[],
  bypass = a.priority === 'high',
) {
  const out = await r.store.transaction((tx) =>
    n.notifier.planInTx(
      tx,
      ctx,
      a,
      users.map((u) => ({ userId: u, target: `user:${u}` })),
      channels,
      r.clock.now,
      bypass,
    ),
  );
  await r.store.durable();
  return out;
}

async function until<T>(f: () => Promise<T | undefined | false>, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 25));
  }
}

const rows = (r: Rig, alertId: string) => r.store.read.alertNotifications.listForAlert('t1', alertId);
const settled = (r: Rig, alertId: string) =>
  until(async () => {
    const rs = await rows(r, alertId);
    return rs.every((x) => !['sending', 'queued'].includes(x.status)) && rs;
  });

describeEachBackend('alert notifier', (backend) => {
  const fresh = freshDatabases(backend);

  it('plans one leased row per recipient and channel and sends PHI-free nudges over SMS, e-mail and webhook', async () => {
    const r = await rig(await fresh({ migrated: true }));
    await staff(r, 'u1', [
      { kind: 'sms', value: '+14155550101' },
      { kind: 'email', value: 'u1@clinic.test' },
      { kind: 'webhook', value: `${r.hook.url.replace('http:', 'https:')}` },
    ]);
    await staff(r, 'u2', [{ kind: 'sms', value: '+14155550102' }], { language: 'es' });
    await staff(r, 'u3', []);
    const n = r.node('node-a');
    const out = await plan(n, r, alert('a1', { patientRef: 'pref1' }), ['u1', 'u2', 'u3'], ['sms', 'email', 'webhook']);
    expect(out.reached).toBe(2);
    expect(out.sends.map((s) => s.channel).sort()).toEqual(['email', 'sms', 'sms', 'webhook']);
    const planned = await rows(r, 'a1');
    expect(planned.filter((x) => x.status === 'sending').every((x) => x.lease_owner === 'node-a')).toBe(true);
    expect(planned.find((x) => x.user_id === 'u3')).toMatchObject({ status: 'failed', reason: 'no_contact_method' });

    n.notifier.dispatch(out.sends);
    const done = await settled(r, 'a1');
    const byKey = (u: string, ch: string) => done.find((x) => x.user_id === u && x.channel === ch)!;
    expect(byKey('u1', 'sms')).toMatchObject({ status: 'sent', provider: 'twilio', reply_code: 1, lease_owner: null });
    expect(byKey('u1', 'sms').provider_message_id).toMatch(/^SM/);
    expect(byKey('u1', 'email').status).toBe('sent');
    expect(byKey('u1', 'webhook').status).toBe('delivered');

    const en = r.twilio.messages.find((m) => m.to === '+14155550101')!;
    expect(en.body).toContain('Critical potassium result');
    expect(en.body).toContain('https://sealpost.example/alerts/a1');
    expect(en.body).toContain('Reply 1 to acknowledge, 1D to pass it on');
    expect(en.idempotencyToken).toBeTruthy();
    const es = r.twilio.messages.find((m) => m.to === '+14155550102')!;
    expect(es.body).toContain('Responda 1 para confirmar');
    expect(r.smtp.messages[0]!.headers.subject).toContain('General Hospital');
    const payload = JSON.parse((r.hook.records[0]!.body as { text: string }).text);
    expect(payload).toMatchObject({
      type: 'sealpost.alert',
      alertId: 'a1',
      priority: 'medium',
      summary: 'Critical potassium result',
    });
    expect(r.hook.records[0]!.validSignature).toBe(true);

    // The record: one planned entry per row, the outcome of each send; ids only.
    const audit = await r.db.query<{ action: string; entry: string }>('select action, entry from audit_entries');
    const actions = audit.map((a) => a.action);
    expect(actions.filter((a) => a === 'alert.notification_planned')).toHaveLength(4);
    expect(actions).toContain('alert.notification_unreachable');
    expect(actions).toContain('alert.notification_delivered');
    expect(audit.map((a) => a.entry).join('\n')).not.toContain('+1415555');

    // A provider receipt marks the SMS nudge delivered.
    expect(await n.dispatcher.providerStatus('twilio', en.sid, 'delivered')).toBe(true);
    expect((await r.store.read.alertNotifications.get('t1', byKey('u1', 'sms').id))!.status).toBe('delivered');
    expect(await n.dispatcher.providerStatus('twilio', 'SMunknown', 'delivered')).toBe(false);
    // A late failure report of the Spanish nudge marks it failed.
    const esRow = byKey('u2', 'sms');
    expect(await n.dispatcher.providerStatus('twilio', esRow.provider_message_id!, 'failed')).toBe(true);
    expect((await r.store.read.alertNotifications.get('t1', esRow.id))!).toMatchObject({
      status: 'failed',
      reason: 'SP_CHANNEL_SEND_FAILED',
    });
    // Opening the alert marks the recipient's nudges read.
    await r.store.transaction((tx) => n.notifier.markRead(tx, 't1', 'a1', 'u1', r.clock.now));
    expect((await rows(r, 'a1')).filter((x) => x.user_id === 'u1').map((x) => x.status)).toEqual([
      'read',
      'read',
      'read',
    ]);
    expect(r.errors).toEqual([]);
  });

  it('keeps medium and low alerts from people in quiet hours or do-not-disturb; high goes through', async () => {
    const r = await rig(await fresh({ migrated: true }));
    r.clock.now = new Date('2026-01-10T04:00:00Z'); // 23:00 in New York
    await staff(r, 'night', [{ kind: 'sms', value: '+14155550111' }], {
      timeZone: 'America/New_York',
      quietHours: '22:00-07:00',
    });
    await staff(r, 'dnd', [{ kind: 'sms', value: '+14155550112' }], { doNotDisturbUntil: '2026-01-10T06:00:00Z' });
    await staff(r, 'day', [{ kind: 'sms', value: '+14155550113' }], {
      timeZone: 'Europe/Madrid',
      quietHours: '22:00-07:00',
    });
    const n = r.node('node-a');
    const low = await plan(n, r, alert('m1', { priority: 'low' }), ['night', 'dnd'], ['sms']);
    expect(low).toEqual({ sends: [], reached: 0, told: [] });
    expect((await rows(r, 'm1')).map((x) => [x.user_id, x.status, x.reason]).sort()).toEqual([
      ['dnd', 'suppressed', 'do_not_disturb'],
      ['night', 'suppressed', 'quiet_hours'],
    ]);
    // 05:00 in Madrid is inside the window too; the zone is the person's.
    const madrid = await plan(n, r, alert('m2'), ['day'], ['sms']);
    expect(madrid.reached).toBe(0);
    r.clock.now = new Date('2026-01-10T12:00:00Z'); // 07:00 New York: the window has ended
    expect((await plan(n, r, alert('m3'), ['night'], ['sms'])).reached).toBe(1);

    // Across the spring-forward night the window stays 22:00-07:00 on the wall clock (EDT from 03:00).
    r.clock.now = new Date('2026-03-08T10:30:00Z'); // 06:30 EDT: still quiet
    expect((await plan(n, r, alert('m4'), ['night'], ['sms'])).reached).toBe(0);
    r.clock.now = new Date('2026-03-08T11:00:00Z'); // 07:00 EDT: over (it would be 06:00 in EST)
    expect((await plan(n, r, alert('m5'), ['night'], ['sms'])).reached).toBe(1);

    r.clock.now = new Date('2026-01-10T04:00:00Z');
    const high = await plan(n, r, alert('h1', { priority: 'high' }), ['night', 'dnd', 'day'], ['sms']);
    expect(high.reached).toBe(3);
    n.notifier.dispatch(high.sends);
    await settled(r, 'h1');
    expect(r.twilio.messages.filter((m) => m.body.includes('HIGH priority'))).toHaveLength(3);
    expect(r.twilio.messages.some((m) => m.body.includes('/alerts/m1'))).toBe(false);
  });

  it('binds reply codes to an alert and a recipient: the smallest free code, the same one on repeats', async () => {
    const r = await rig(await fresh({ migrated: true }));
    await staff(r, 'u1', [{ kind: 'sms', value: '+14155550121' }]);
    await staff(r, 'u2', [{ kind: 'sms', value: '+14155550122' }]);
    const n = r.node('node-a');
    const code = async (a: string, u: string) =>
      (await rows(r, a))
        .filter((x) => x.user_id === u)
        .map((x) => x.reply_code)
        .at(-1);
    await plan(n, r, alert('a'), ['u1'], ['sms']);
    await plan(n, r, alert('b'), ['u1', 'u2'], ['sms']);
    await plan(n, r, alert('a', { step: 1 }), ['u1', 'u2'], ['sms']);
    expect([await code('a', 'u1'), await code('b', 'u1'), await code('b', 'u2'), await code('a', 'u2')]).toEqual([
      1, 2, 1, 2,
    ]);
    // Answered: its codes stay bound for the grace hour (late replies still find it), then free.
    await r.store.transaction((tx) => n.notifier.cancelPendingInTx(tx, 't1', 'a', r.clock.now));
    await plan(n, r, alert('c'), ['u1'], ['sms']);
    expect(await code('c', 'u1')).toBe(3);
    r.clock.now = new Date(r.clock.now.getTime() + 3_600_001);
    await plan(n, r, alert('d'), ['u1'], ['sms']);
    expect(await code('d', 'u1')).toBe(1);
    const ref = (await rows(r, 'd'))[0]!.address_ref!;
    const now = r.clock.now.getTime();
    expect((await r.store.read.alertNotifications.findReply('t1', ref, 1, 0, now))!.alert_id).toBe('d');
    expect((await r.store.read.alertNotifications.findReply('t1', ref, 2, 0, now))!.alert_id).toBe('b');
    const otherRef = (await rows(r, 'b')).find((x) => x.user_id === 'u2')!.address_ref!;
    expect((await r.store.read.alertNotifications.findReply('t1', otherRef, 1, 0, now))!.alert_id).toBe('b');
    expect(await r.store.read.alertNotifications.findReply('t1', otherRef, 2, 0, now)).toBeUndefined();
  });

  it('allocates reply codes for a recipient with many open alerts: 1..32 smallest free, then above the highest live code', async () => {
    const r = await rig(await fresh({ migrated: true }));
    await staff(r, 'u1', [{ kind: 'sms', value: '+14155550125' }]);
    await staff(r, 'u2', [{ kind: 'sms', value: '+14155550126' }]);
    const n = r.node('node-a');
    const code = async (a: string) => (await rows(r, a)).find((x) => x.user_id === 'u1')!.reply_code;
    const ids = Array.from({ length: 40 }, (_, i) => `many-${i}`);
    for (const id of ids) await plan(n, r, alert(id), ['u1'], ['sms']);
    const codes = await Promise.all(ids.map(code));
    expect(codes).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(new Set(codes).size).toBe(40); // unique per recipient among live nudges
    // A repeat of an open alert keeps its code, however many others are open.
    await plan(n, r, alert('many-36', { step: 1 }), ['u1', 'u2'], ['sms']);
    expect((await rows(r, 'many-36')).map((x) => [x.user_id, x.reply_code])).toEqual([
      ['u1', 37],
      ['u1', 37],
      ['u2', 1],
    ]);
    // Answered alerts free their codes after the grace hour: a low one is reused first, …
    for (const id of ['many-4', 'many-39', 'many-20'])
      await r.store.transaction((tx) => n.notifier.cancelPendingInTx(tx, 't1', id, r.clock.now));
    r.clock.now = new Date(r.clock.now.getTime() + 3_600_001);
    await plan(n, r, alert('next-1'), ['u1'], ['sms']);
    await plan(n, r, alert('next-2'), ['u1'], ['sms']);
    expect([await code('next-1'), await code('next-2')]).toEqual([5, 21]);
    // … and with 1..32 all bound, the next number above the highest live code (40 is answered: 39 is the highest).
    await plan(n, r, alert('next-3'), ['u1'], ['sms']);
    expect(await code('next-3')).toBe(40);
    await plan(n, r, alert('next-4'), ['u1'], ['sms']);
    expect(await code('next-4')).toBe(41);
    const ref = (await rows(r, 'next-3'))[0]!.address_ref!;
    const now = r.clock.now.getTime();
    expect((await r.store.read.alertNotifications.findReply('t1', ref, 40, 0, now))!.alert_id).toBe('next-3');
    expect((await r.store.read.alertNotifications.findReply('t1', ref, 5, 0, now))!.alert_id).toBe('next-1');
  });

  it('re-sends a nudge whose node died before sending once its lease expires, and retries a failed send', async () => {
    const r = await rig(await fresh({ migrated: true }));
    await staff(r, 'u1', [{ kind: 'sms', value: '+14155550131' }]);
    const dead = r.node('node-dead');
    const out = await plan(dead, r, alert('x'), ['u1'], ['sms']);
    expect(out.sends).toHaveLength(1); // never dispatched: the node "died"
    // On PostgreSQL the other node has its own pool (a second process would); SQLite has one writer.
    const second = backend === 'postgres' ? r.db.open() : r.store;
    if (second !== r.store) cleanups.push(() => second.close());
    const other = r.node('node-b', second);
    expect(await other.dispatcher.sweep()).toBe(0); // the lease still holds
    r.clock.now = new Date(r.clock.now.getTime() + LEASE + 1);
    r.twilio.failNext(1, 503);
    expect(await other.dispatcher.sweep()).toBe(1);
    const retried = (await rows(r, 'x'))[0]!;
    expect(retried).toMatchObject({ status: 'queued', reason: 'SP_CHANNEL_SEND_FAILED', attempts: 2 });
    r.clock.now = new Date(r.clock.now.getTime() + 1_001);
    expect(await other.dispatcher.sweep()).toBe(1);
    expect((await rows(r, 'x'))[0]).toMatchObject({ status: 'sent', attempts: 3, lease_owner: null });
    expect(r.twilio.messages).toHaveLength(1);
    // Both attempts that reached Twilio carried the row id as idempotency key.
    const tokens = new Set(r.twilio.requests.map((q) => q.idempotencyToken));
    expect(tokens.size).toBe(1);
    // The dead node's late outcome is refused: it no longer holds the lease.
    expect(await r.store.read.alertNotifications.finish(retried.id, 'node-dead', { status: 'failed' })).toBe(false);
  });

  it('fails a nudge after its attempts, records a missing channel, and cancels what was not sent', async () => {
    const r = await rig(await fresh({ migrated: true }));
    await staff(r, 'u1', [
      { kind: 'sms', value: '+14155550141' },
      { kind: 'paging', value: 'PGR4471' },
    ]);
    const n = r.node('node-a');
    const out = await plan(n, r, alert('p', { priority: 'high' }), ['u1'], ['paging', 'sms']);
    expect(out.reached).toBe(1);
    expect((await rows(r, 'p')).find((x) => x.channel === 'paging')).toMatchObject({
      status: 'failed',
      reason: 'channel_not_configured',
      reply_code: 1,
    });
    r.twilio.failNext(3, 500);
    n.notifier.dispatch(out.sends);
    await until(async () => (await rows(r, 'p')).find((x) => x.channel === 'sms')!.status === 'queued');
    for (let i = 0; i < 3; i += 1) {
      r.clock.now = new Date(r.clock.now.getTime() + LEASE + 1);
      await n.dispatcher.sweep();
    }
    expect((await rows(r, 'p')).find((x) => x.channel === 'sms')).toMatchObject({ status: 'failed' });

    const q = await plan(n, r, alert('q'), ['u1'], ['sms']);
    expect(q.reached).toBe(1); // planned, leased, never dispatched
    r.clock.now = new Date(r.clock.now.getTime() + LEASE + 1);
    await r.store.transaction((tx) => n.notifier.cancelPendingInTx(tx, 't1', 'q', r.clock.now));
    expect((await rows(r, 'q'))[0]).toMatchObject({ status: 'cancelled', reason: 'answered' });
    expect(await n.dispatcher.sweep()).toBe(0);
  });

  it('never puts the details or patient data of an alert into a nudge, and refuses bad contacts', async () => {
    const r = await rig(await fresh({ migrated: true }));
    await staff(r, 'u1', [{ kind: 'sms', value: '+14155550151' }]);
    const n = r.node('node-a');
    // Only the summary reaches the notifier (AlertForNotify has no details or patient field).
    const out = await plan(n, r, alert('z', { patientRef: `ref-${PHI_MARKER}` }), ['u1'], ['sms']);
    n.notifier.dispatch(out.sends);
    await settled(r, 'z');
    expect(r.twilio.messages.map((m) => m.body).join('\n')).not.toContain(PHI_MARKER);
    const before = await r.contacts.get(ctx, 'u1');
    for (const bad of [
      { kind: 'sms', value: '4155550151' },
      { kind: 'email', value: 'not an address' },
      { kind: 'paging', value: 'PAGER-ID-TOO-LONG-123' },
      { kind: 'webhook', value: 'http://127.0.0.1/hook' },
      { kind: 'webhook', value: 'https://10.0.0.7/hook' },
    ] as StaffContact[]) {
      await expect(
        r.contacts.put(ctx, 'u1', {
          contacts: [{ kind: 'sms', value: '+14155550151' }, bad],
          settings: before.settings,
        }),
      ).rejects.toMatchObject({ code: 'SP_ALERT_CONTACT_INVALID', detail: 'contacts[1]' });
    }
    await expect(
      r.contacts.put(ctx, 'u1', { contacts: [], settings: { ...before.settings, timeZone: 'Mars/Olympus' } }),
    ).rejects.toMatchObject({ code: 'SP_ALERT_SETTINGS_INVALID', detail: 'settings.timeZone' });
    await expect(
      r.contacts.put(ctx, 'u1', { contacts: [], settings: { ...before.settings, quietHours: '22:00' } }),
    ).rejects.toMatchObject({ code: 'SP_ALERT_SETTINGS_INVALID' });
    await expect(r.contacts.get(ctx, 'nobody')).rejects.toMatchObject({ code: 'SP_USER_NOT_FOUND' });
    expect(await r.contacts.get(ctx, 'u1')).toEqual(before);
  });
  it('pages over SNPP with a short text carrying the link and the reply code; an unknown pager fails for good', async () => {
    const r = await rig(await fresh({ migrated: true }));
    const snpp = await startSnppServer();
    cleanups.push(() => snpp.close());
    r.channels.paging = new SnppPagingChannel({
      host: '127.0.0.1',
      port: snpp.port,
      tls: false,
      maxChars: 240,
      timeoutMs: 5_000,
    });
    snpp.unknownPagers.add('GONE1');
    await staff(r, 'u1', [
      { kind: 'paging', value: 'PGR4471' },
      { kind: 'sms', value: '+14155550181' },
    ]);
    await staff(r, 'u2', [{ kind: 'paging', value: 'GONE1' }]);
    const n = r.node('node-a');
    const long = `Telemetry lead off ${'and more '.repeat(30)}`.trim();
    const out = await plan(n, r, alert('pg', { priority: 'high', summary: long }), ['u1', 'u2'], ['paging', 'sms']);
    n.notifier.dispatch(out.sends);
    const done = await settled(r, 'pg');
    const page = snpp.pages.find((p) => p.pagerId === 'PGR4471')!;
    expect(page.message.length).toBeLessThanOrEqual(240);
    expect(page.message).toMatch(/^HIGH: Telemetry lead off .*\.\.\. https:\/\/sealpost\.example\/alerts\/pg R1$/);
    expect(done.find((x) => x.user_id === 'u1' && x.channel === 'paging')).toMatchObject({
      status: 'sent',
      provider: 'snpp',
    });
    expect(done.find((x) => x.user_id === 'u2')).toMatchObject({
      status: 'failed',
      reason: 'SP_CHANNEL_SEND_FAILED',
      attempts: 1,
    });
    // The SMS nudge of the same alert carries the same code.
    expect(r.twilio.messages.find((m) => m.to === '+14155550181')!.body).toContain('Reply 1 to acknowledge');
  });
});
