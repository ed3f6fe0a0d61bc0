import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import { LocalKeyring } from '../../src/crypto/local-keyring.js';
import { EnvelopeCipher } from '../../src/crypto/envelope-cipher.js';
import { TemplateRegistry } from '../../src/core/templates/template-registry.js';
import { loadConfig } from '../../src/config/load-config.js';
import { PatientService, type PatientInput } from '../../src/core/patient-service.js';
import { NotificationService, type CreateNotificationInput } from '../../src/core/notification-service.js';
import { DeliveryProcessor } from '../../src/core/delivery-processor.js';
import { PatientPreferencesService } from '../../src/core/patient-preferences.js';
import type { CoreDeps, RequestContext } from '../../src/core/context.js';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';
import { samplePatient } from '../helpers/sample-patient.js';
import { DAYTIME, PHI_MARKER, fakeChannels } from '../helpers/in-memory-core.js';
import { ChannelError } from '../../src/channels/channel.js';
import { ConsentService } from '../../src/core/consent-service.js';

const DAY = 86_400_000;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Core over a real migrated store (as the application builds it); `env` adds SEALPOST_* settings. */
async function core(db: TestDatabase, env: Record<string, string> = {}, store?: KyselyStore) {
  const dataDir = mkdtempSync(join(tmpdir(), 'sealpost-policy-'));
  cleanups.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const s = store ?? (await migratedStore(db));
  if (!store) cleanups.push(() => s.close());
  let now = DAYTIME;
  const keyringDir = keyrings.get(db) ?? dataDir;
  keyrings.set(db, keyringDir);
  const { keyring } = LocalKeyring.openOrCreate(join(keyringDir, 'keyring.json'));
  const deps: CoreDeps = {
    config: loadConfig({
      SEALPOST_DATA_DIR: dataDir,
      SEALPOST_PUBLIC_URL: 'https://sealpost.example.test',
      SEALPOST_QUIET_HOURS: '21:00-08:00',
      ...env,
    }),
    store: s,
    cipher: new EnvelopeCipher(keyring),
    templates: TemplateRegistry.load(),
    clock: () => new Date(now),
    newId: uuidv7,
    wake: () => undefined,
  };
  const ctx: RequestContext = { tenantId: 'default', actor: 'api-key:contract', requestId: 'req-1' };
  return {
    deps,
    store: s,
    ctx,
    setNow: (ms: number) => void (now = ms),
    now: () => now,
    patients: new PatientService(deps),
    notifications: new NotificationService(deps),
    preferences: new PatientPreferencesService(deps),
  };
}
/** Every node of one database shares the keyring (as nodes of one installation do). */
const keyrings = new Map<TestDatabase, string>();

const followUp = (reason: string, over: Partial<CreateNotificationInput> = {}): CreateNotificationInput => ({
  type: 'follow_up',
  patientId: 'p1',
  data: { reason: `${reason} ${PHI_MARKER}`, dueDate: '2030-02-01', clinicianName: 'Dr. Rivera' },
  ...over,
});

async function deliveries(db: TestDatabase) {
  return (
    await db.query<{
      id: string;
      notification_id: string;
      channel: string;
      status: string;
      run_at: number;
      last_error_code: string | null;
      provider: string | null;
      provider_message_id: string | null;
    }>(
      'select id, notification_id, channel, status, run_at, last_error_code, provider, provider_message_id from deliveries order by created_at, id',
    )
  ).map((r) => ({ ...r, run_at: Number(r.run_at) }));
}

describeEachBackend('delivery policy', (backend) => {
  const fresh = freshDatabases(backend);

  it('stores preferences per patient (put replaces) and keeps the first ledger row of a delivery', async () => {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    cleanups.push(() => store.close());
    const row = (patient: string, over = {}) => ({
      tenant_id: 't1',
      patient_id: patient,
      channels: '{"follow_up":["email"]}',
      language: 'es',
      quiet_start: 1320,
      quiet_end: 420,
      no_text_after: 1200,
      updated_at: 1,
      ...over,
    });
    await store.transaction(async (tx) => {
      await tx.preferences.put(row('p1'));
      await tx.preferences.put(row('p2'));
      await tx.preferences.put(row('p1', { language: null, quiet_start: null, quiet_end: null, updated_at: 2 }));
    });
    expect(await store.read.preferences.get('t1', 'p1')).toMatchObject({ language: null, quiet_start: null });
    expect((await store.read.preferences.getMany('t1', ['p1', 'p2', 'p3'])).map((r) => r.patient_id).sort()).toEqual([
      'p1',
      'p2',
    ]);
    expect(await store.read.preferences.getMany('t2', ['p1'])).toEqual([]);

    const send = (id: string, at: number, patient = 'p1') => ({
      tenant_id: 't1',
      delivery_id: id,
      patient_id: patient,
      channel: 'sms',
      notification_id: `n-${id}`,
      content_key: 'k',
      digest_of: null,
      at,
    });
    await store.transaction(async (tx) => {
      await tx.sendLedger.lockPatients('t1', ['p1', 'p2']);
      await tx.sendLedger.insertMany([send('d1', 100), send('d2', 200), send('d3', 300, 'p2')]);
      // A retry of d1 keeps its first row.
      await tx.sendLedger.insertMany([send('d1', 999)]);
    });
    const since = await store.read.sendLedger.listSince('t1', ['p1'], 150);
    expect(since.map((r) => [r.delivery_id, Number(r.at)])).toEqual([['d2', 200]]);
    expect((await store.read.sendLedger.listSince('t1', ['p1'], 0)).find((r) => r.delivery_id === 'd1')?.at).toBe(100);
    expect(await store.transaction((tx) => tx.sendLedger.prune('t1', ['p1', 'p2'], 150))).toBe(1);
    expect(await store.transaction((tx) => tx.sendLedger.deleteForPatient('t1', 'p2'))).toBe(1);
    expect(await store.transaction((tx) => tx.preferences.deleteForPatient('t1', 'p2'))).toBe(1);
  });

  it('lets exactly one routine SMS a day out of many claimed at once (several nodes on PostgreSQL); the rest wait with SP_DELIVERY_CAPPED', async () => {
    const db = await fresh({ migrated: true });
    const env = { SEALPOST_DIGEST_WINDOW: 'off' };
    const a = await core(db, env);
    await a.patients.upsert(a.ctx, 'p1', samplePatient() as PatientInput);
    for (let i = 0; i < 6; i++) await a.notifications.create(a.ctx, followUp(`review ${i}`));
    // PostgreSQL: one store per node (its own pool); SQLite serves one node.
    const nodes = backend === 'postgres' ? 6 : 1;
    const cores = [a];
    for (let i = 1; i < nodes; i++) {
      const s = db.open({ poolMax: 2 });
      cleanups.push(() => s.close());
      cores.push(await core(db, env, s));
    }
    const sms = fakeChannels();
    const workers = Array.from({ length: 6 }, (_, i) => {
      const c = cores[i % cores.length];
      return new DeliveryProcessor(c.deps, sms, `node${i}`);
    });
    const batches = await Promise.all(workers.map((w) => w.claim(1, DAYTIME, DAYTIME + 60_000)));
    expect(batches.map((b) => b.jobs.length)).toEqual([1, 1, 1, 1, 1, 1]);
    const outcomes = (await Promise.all(batches.map((b) => b.finish()))).flat();

    expect(outcomes.filter((o) => o.status === 'sent')).toHaveLength(1);
    expect(outcomes.filter((o) => o.status === 'deferred')).toHaveLength(5);
    expect(sms.sms.sent).toHaveLength(1);
    const rows = await deliveries(db);
    const capped = rows.filter((r) => r.status === 'scheduled');
    expect(capped).toHaveLength(5);
    for (const r of capped) expect(r).toMatchObject({ last_error_code: 'SP_DELIVERY_CAPPED', run_at: DAYTIME + DAY });
    // Each deferral is audited with its reason.
    const audit = await db.query<{ n: number }>(
      `select count(*) as n from audit_entries where action = 'delivery.deferred' and entry like '%SP_DELIVERY_CAPPED%'`,
    );
    expect(Number(audit[0].n)).toBe(5);
  });

  it('digests routine notifications due together into one nudge, deduplicates identical ones, and lets urgent ones bypass', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db);
    await c.patients.upsert(c.ctx, 'p1', samplePatient() as PatientInput);
    const first = await c.notifications.create(c.ctx, followUp('knee'));
    const second = await c.notifications.create(c.ctx, followUp('hip'));
    const same = await c.notifications.create(c.ctx, followUp('knee'));
    const urgent = await c.notifications.create(c.ctx, followUp('knee', { priority: 'urgent' }));
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    const batch = await worker.claim(10, DAYTIME, DAYTIME + 60_000);
    await batch.finish();

    // Claim order among equal run_at is the database's: whichever of the two identical ones came
    // first went, the other is a duplicate; of the two routine ones left, one nudge carried the other.
    const rows = await deliveries(db);
    const of = (id: string) => rows.find((r) => r.notification_id === id)!;
    const twins = [of(first.body.id), of(same.body.id)];
    const dup = twins.filter((r) => r.status === 'suppressed');
    expect(dup).toHaveLength(1);
    expect(dup[0].last_error_code).toBe('SP_DELIVERY_DUPLICATE');
    const routine = [...twins.filter((r) => r !== dup[0]), of(second.body.id)];
    const lead = routine.find((r) => r.provider !== 'digest')!;
    const member = routine.find((r) => r.provider === 'digest')!;
    expect(channels.sms.sent.map((m) => m.notificationId).sort()).toEqual(
      [lead.notification_id, urgent.body.id].sort(),
    );
    expect(lead).toMatchObject({ status: 'sent', last_error_code: null });
    expect(member).toMatchObject({
      status: 'sent',
      provider: 'digest',
      provider_message_id: lead.id,
      last_error_code: 'SP_DELIVERY_DIGESTED',
    });
    expect(of(urgent.body.id)).toMatchObject({ status: 'sent', last_error_code: null });
    // The delivery view shows the reasons.
    const view = await c.notifications.get(c.ctx, dup[0].notification_id);
    expect(view.deliveries[0]).toMatchObject({ status: 'suppressed', lastErrorCode: 'SP_DELIVERY_DUPLICATE' });

    // The next routine SMS that day is capped; an urgent one still goes.
    c.setNow(DAYTIME + 3_600_000);
    const later = await c.notifications.create(c.ctx, followUp('shoulder'));
    const stat = await c.notifications.create(c.ctx, followUp('shoulder', { priority: 'stat' }));
    await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    const after = await deliveries(db);
    expect(after.find((r) => r.notification_id === later.body.id)).toMatchObject({
      status: 'scheduled',
      last_error_code: 'SP_DELIVERY_CAPPED',
      run_at: DAYTIME + DAY,
    });
    expect(after.find((r) => r.notification_id === stat.body.id)).toMatchObject({ status: 'sent' });
    // No PHI in what the ledger or the audit log holds.
    const dump = JSON.stringify([
      await db.query('select * from delivery_sends'),
      await db.query('select * from patient_preferences'),
    ]);
    expect(dump).not.toContain(PHI_MARKER);
  });

  it('holds a routine delivery for another due within the digest window, then sends both as one nudge', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db, { SEALPOST_DIGEST_WINDOW: '30m' });
    await c.patients.upsert(c.ctx, 'p1', samplePatient() as PatientInput);
    const now = await c.notifications.create(c.ctx, followUp('knee'));
    const soon = await c.notifications.create(
      c.ctx,
      followUp('hip', { sendAt: new Date(DAYTIME + 10 * 60_000).toISOString() }),
    );
    const far = await c.notifications.create(
      c.ctx,
      followUp('elbow', { sendAt: new Date(DAYTIME + 45 * 60_000).toISOString() }),
    );
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    await (await worker.claim(10, DAYTIME, DAYTIME + 60_000)).finish();
    expect(channels.sms.sent).toEqual([]);
    const held = (await deliveries(db)).find((r) => r.notification_id === now.body.id)!;
    // Waits for the one due in 10 minutes (within the window), not for the one due in 45.
    expect(held).toMatchObject({
      status: 'scheduled',
      last_error_code: 'SP_DELIVERY_DIGEST_WAIT',
      run_at: DAYTIME + 10 * 60_000,
    });

    c.setNow(DAYTIME + 10 * 60_000);
    await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    expect(channels.sms.sent).toHaveLength(1);
    const rows = await deliveries(db);
    const both = rows.filter((r) => [now.body.id, soon.body.id].includes(r.notification_id));
    expect(both.map((r) => r.status)).toEqual(['sent', 'sent']);
    expect(both.filter((r) => r.provider === 'digest')).toHaveLength(1);
    expect(rows.find((r) => r.notification_id === far.body.id)).toMatchObject({ status: 'scheduled' });
  });

  it('applies preferences: channel order at creation, personal quiet hours, no texts after, language', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db, { SEALPOST_FREQUENCY_CAPS: 'off', SEALPOST_DEDUP_WINDOW: 'off' });
    await c.patients.upsert(c.ctx, 'p1', samplePatient() as PatientInput);
    await c.preferences.put(
      c.ctx,
      'p1',
      { channels: { billing_statement: ['email'] }, quietHours: { start: '09:30', end: '11:00' }, language: 'es' },
      'staff',
    );
    // Billing goes by e-mail (the patient's choice), follow-ups by the first contact point (SMS).
    const bill = await c.notifications.create(c.ctx, {
      type: 'billing_statement',
      patientId: 'p1',
      data: { amount: '12.50', dueDate: '2030-02-01', statementId: `S-1 ${PHI_MARKER}` },
    });
    expect(bill.body.deliveries.map((d) => d.channel)).toEqual(['email']);
    const f = await c.notifications.create(c.ctx, followUp('knee'));
    expect(f.body.deliveries.map((d) => d.channel)).toEqual(['sms']);

    // 10:00 in New York: inside the personal quiet hours, both wait until 11:00 local (16:00Z).
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    await (await worker.claim(10, DAYTIME, DAYTIME + 60_000)).finish();
    for (const r of await deliveries(db))
      expect(r).toMatchObject({
        status: 'scheduled',
        last_error_code: 'SP_DELIVERY_QUIET_HOURS',
        run_at: DAYTIME + 3_600_000,
      });

    // No texts after 11:30: at 12:00 the SMS waits for the morning (08:00 local, 13:00Z next day); e-mail goes.
    await c.preferences.put(
      c.ctx,
      'p1',
      { channels: { billing_statement: ['email'] }, noTextAfter: '11:30', language: 'es' },
      'staff',
    );
    c.setNow(DAYTIME + 2 * 3_600_000);
    await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    const rows = await deliveries(db);
    expect(rows.find((r) => r.notification_id === f.body.id)).toMatchObject({
      status: 'scheduled',
      last_error_code: 'SP_DELIVERY_NO_TEXT_AFTER',
      run_at: Date.parse('2030-01-16T13:00:00Z'),
    });
    expect(rows.find((r) => r.notification_id === bill.body.id)).toMatchObject({ status: 'sent' });
    // The nudge speaks the preferred language.
    expect(channels.email.sent[0].subject ?? channels.email.sent[0].text).toMatch(/[Mm]ensaje|[Nn]uevo|segur/);
  });

  it('counts a rolling week: a fourth routine SMS within 7 days waits until the first leaves the window', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db, { SEALPOST_DIGEST_WINDOW: 'off', SEALPOST_DEDUP_WINDOW: 'off' });
    await c.patients.upsert(c.ctx, 'p1', samplePatient() as PatientInput);
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    const ids: string[] = [];
    for (let day = 0; day < 4; day++) {
      c.setNow(DAYTIME + day * DAY);
      ids.push((await c.notifications.create(c.ctx, followUp(`day ${day}`))).body.id);
      await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    }
    expect(channels.sms.sent).toHaveLength(3);
    expect((await deliveries(db)).find((r) => r.notification_id === ids[3])).toMatchObject({
      status: 'scheduled',
      last_error_code: 'SP_DELIVERY_CAPPED',
      run_at: DAYTIME + 7 * DAY,
    });
  });

  it('fails over in the order the patient prefers for the type', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db);
    await c.patients.upsert(
      c.ctx,
      'p1',
      samplePatient({
        telecom: [
          { system: 'sms', value: '+14155552671', rank: 1 },
          { system: 'email', value: 'first@example.com', rank: 2 },
          { system: 'email', value: 'second@example.com', rank: 3 },
        ],
      }) as PatientInput,
    );
    await c.preferences.put(c.ctx, 'p1', { channels: { follow_up: ['email', 'sms'] } }, 'portal');
    const created = await c.notifications.create(c.ctx, followUp('knee'));
    expect(created.body.deliveries.map((d) => d.channel)).toEqual(['email']);
    const channels = fakeChannels();
    channels.email.willAnswerTo('first@example.com', async () => {
      throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'mailbox unavailable');
    });
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    await (await worker.claim(10, DAYTIME, DAYTIME + 60_000)).finish();
    await (await worker.claim(10, DAYTIME, DAYTIME + 60_000)).finish();
    // The second e-mail (rank 3) before the SMS (rank 1): e-mail is the patient's first choice.
    expect(channels.email.sent.map((m) => m.to)).toEqual(['first@example.com', 'second@example.com']);
    expect(channels.sms.sent).toEqual([]);
  });

  it('counts only sends that went out: a dead first copy neither makes its twin a duplicate nor uses the cap; a retry counts once', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db, { SEALPOST_DIGEST_WINDOW: 'off' });
    await c.patients.upsert(
      c.ctx,
      'p1',
      samplePatient({ telecom: [{ system: 'sms', value: '+14155552671', rank: 1 }] }) as PatientInput,
    );
    const channels = fakeChannels();
    let refuse: 'for good' | 'once' | null = 'for good';
    channels.sms.willAnswerTo('+14155552671', async () => {
      const how = refuse;
      if (how === 'once') refuse = null;
      if (how) throw new ChannelError('SP_CHANNEL_SEND_FAILED', how === 'once', 'provider refused');
      return { status: 'sent', providerMessageId: `m-${uuidv7()}` };
    });
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    const first = await c.notifications.create(c.ctx, followUp('knee'));
    await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    expect((await deliveries(db)).find((r) => r.notification_id === first.body.id)).toMatchObject({ status: 'dead' });
    expect(await db.query('select * from delivery_sends')).toEqual([]);

    // Sent again because it never reached the patient: not a duplicate, not capped.
    refuse = 'once';
    c.setNow(DAYTIME + 60_000);
    const again = await c.notifications.create(c.ctx, followUp('knee'));
    await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    const retrying = (await deliveries(db)).find((r) => r.notification_id === again.body.id)!;
    expect(retrying).toMatchObject({ status: 'queued', last_error_code: 'SP_CHANNEL_SEND_FAILED' });
    // In flight with a retry pending: it holds its place (one row), the retry is not counted twice.
    expect(await db.query('select delivery_id from delivery_sends')).toEqual([{ delivery_id: retrying.id }]);
    c.setNow(retrying.run_at);
    await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    expect((await deliveries(db)).find((r) => r.id === retrying.id)).toMatchObject({
      status: 'sent',
      last_error_code: null,
    });
    expect(await db.query('select delivery_id from delivery_sends')).toEqual([{ delivery_id: retrying.id }]);
    // Every attempt reached the provider; only the last one got through.
    expect(channels.sms.sent.map((m) => m.notificationId)).toEqual([first.body.id, again.body.id, again.body.id]);

    // That one went out: the next routine SMS that day is capped, a third copy is a duplicate.
    c.setNow(retrying.run_at + 60_000);
    const other = await c.notifications.create(c.ctx, followUp('hip'));
    const twin = await c.notifications.create(c.ctx, followUp('knee'));
    await (await worker.claim(10, c.now(), c.now() + 60_000)).finish();
    const rows = await deliveries(db);
    expect(rows.find((r) => r.notification_id === other.body.id)).toMatchObject({
      status: 'scheduled',
      last_error_code: 'SP_DELIVERY_CAPPED',
    });
    expect(rows.find((r) => r.notification_id === twin.body.id)).toMatchObject({
      status: 'suppressed',
      last_error_code: 'SP_DELIVERY_DUPLICATE',
    });
    expect(await db.query('select delivery_id from delivery_sends')).toEqual([{ delivery_id: retrying.id }]);
  });

  it('re-checks every digest member under the send lock: one denied since planning is suppressed and fails over, not in the nudge', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db);
    await c.patients.upsert(c.ctx, 'p1', samplePatient() as PatientInput);
    const care = await c.notifications.create(c.ctx, followUp('knee'));
    const bill = await c.notifications.create(c.ctx, {
      type: 'billing_statement',
      patientId: 'p1',
      data: { amount: '12.50', dueDate: '2030-02-01', statementId: `S-1 ${PHI_MARKER}` },
    });
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    const batch = await worker.claim(10, DAYTIME, DAYTIME + 60_000);
    // Planned: one leads, the other rides in its nudge. A deny for the member's purpose commits now.
    const [member] = await db.query<{ notification_id: string }>(
      'select notification_id from delivery_sends where digest_of is not null',
    );
    expect(member).toBeDefined();
    const leadId = member.notification_id === care.body.id ? bill.body.id : care.body.id;
    await c.store.read.tenants.ensure('default', 'x', DAYTIME);
    await new ConsentService(c.deps).record(c.ctx, {
      patientId: 'p1',
      channel: 'sms',
      purpose: member.notification_id === care.body.id ? 'care_messages' : 'billing',
      decision: 'deny',
      source: 'staff',
    });
    await batch.finish();

    expect(channels.sms.sent.map((m) => m.notificationId)).toEqual([leadId]);
    const rows = await deliveries(db);
    expect(rows.find((r) => r.notification_id === leadId)).toMatchObject({ status: 'sent', provider: 'fake-sms' });
    const denied = rows.filter((r) => r.notification_id === member.notification_id);
    expect(denied.map((r) => [r.channel, r.status, r.last_error_code, r.provider])).toEqual([
      ['sms', 'suppressed', 'SP_CONSENT_DENIED', null],
      ['email', 'queued', null, null],
    ]);
    // Not counted, and not shown behind the lead's portal link.
    expect(await db.query('select notification_id from delivery_sends')).toEqual([{ notification_id: leadId }]);
    const lead = rows.find((r) => r.notification_id === leadId)!;
    expect(await c.store.read.sendLedger.digestMembers('default', lead.id)).toEqual([]);
  });

  it("defers by the installation's quiet hours before admitting: no ledger row, no digest member left behind", async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db);
    await c.patients.upsert(c.ctx, 'p1', samplePatient() as PatientInput);
    const ids = [
      (await c.notifications.create(c.ctx, followUp('knee'))).body.id,
      (await c.notifications.create(c.ctx, followUp('hip'))).body.id,
    ];
    // Due by day, claimed at night (a backlog, a recovery): 22:00 in New York, inside 21:00-08:00.
    const night = DAYTIME + 12 * 3_600_000;
    c.setNow(night);
    const channels = fakeChannels();
    const worker = new DeliveryProcessor(c.deps, channels, 'w1');
    const outcomes = await (await worker.claim(10, night, night + 60_000)).finish();
    expect(outcomes.map((o) => o.status)).toEqual(['deferred', 'deferred']);
    const morning = Date.parse('2030-01-16T13:00:00Z');
    for (const id of ids)
      expect((await deliveries(db)).find((r) => r.notification_id === id)).toMatchObject({
        status: 'scheduled',
        last_error_code: 'SP_DELIVERY_QUIET_HOURS',
        run_at: morning,
      });
    expect(await db.query('select * from delivery_sends')).toEqual([]);
    expect(channels.sms.sent).toEqual([]);

    // In the morning they go as one nudge, counted once.
    c.setNow(morning);
    await (await worker.claim(10, morning, morning + 60_000)).finish();
    expect(channels.sms.sent).toHaveLength(1);
    expect((await deliveries(db)).map((r) => r.status)).toEqual(['sent', 'sent']);
    expect(await db.query('select * from delivery_sends where digest_of is null')).toHaveLength(1);
  });

  it('refuses bad preferences with a clear code and changes nothing', async () => {
    const db = await fresh({ migrated: true });
    const c = await core(db);
    await c.patients.upsert(c.ctx, 'p1', samplePatient() as PatientInput);
    const bad: [unknown, string][] = [
      [{ channels: { nope: ['sms'] } }, 'SP_PREFERENCE_UNKNOWN_TYPE'],
      [{ channels: { follow_up: ['fax'] } }, 'SP_PREFERENCE_UNKNOWN_CHANNEL'],
      [{ channels: { follow_up: ['sms', 'sms'] } }, 'SP_PREFERENCE_UNKNOWN_CHANNEL'],
      [{ channels: { follow_up: [] } }, 'SP_PREFERENCE_UNKNOWN_CHANNEL'],
      [{ language: 'fr' }, 'SP_PREFERENCE_INVALID_LANGUAGE'],
      [{ quietHours: { start: '25:00', end: '07:00' } }, 'SP_PREFERENCE_INVALID_TIME'],
      [{ quietHours: { start: '07:00', end: '07:00' } }, 'SP_PREFERENCE_INVALID_TIME'],
      [{ noTextAfter: '8pm' }, 'SP_PREFERENCE_INVALID_TIME'],
    ];
    for (const [input, code] of bad)
      await expect(c.preferences.put(c.ctx, 'p1', input as never, 'staff')).rejects.toMatchObject({ code });
    await expect(c.preferences.put(c.ctx, 'nobody', {}, 'staff')).rejects.toMatchObject({
      code: 'SP_PATIENT_NOT_FOUND',
    });
    expect(await db.query('select * from patient_preferences')).toEqual([]);
    expect((await c.preferences.get(c.ctx, 'p1')).updatedAt).toBeNull();
  });
});
