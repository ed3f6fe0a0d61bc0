import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { describeEachBackend, freshDatabases, migratedStore } from '../../test/helpers/backends.js';
import { startTwilioEmulator, type TwilioEmulator } from '../../test/helpers/twilio-emulator.js';
import { PHI_MARKER } from '../core/templates/template-test-fixtures.js';
import { LocalKeyring } from '../crypto/local-keyring.js';
import { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import { TemplateRegistry } from '../core/templates/template-registry.js';
import { loadConfig } from '../config/load-config.js';
import type { CoreDeps } from '../core/context.js';
import { TwilioSmsChannel } from '../channels/sms/twilio-sms-channel.js';
import { ScheduleService } from './schedules/schedule-service.js';
import { Directory } from './directory/directory.js';
import { buildAlerting } from './alert-service.js';
import { AlertDispatcher } from './alert-dispatcher.js';
import { AlertNotifierService } from './alert-notifier.js';
import { AlertSmsReplies } from './sms-replies.js';
import { StaffContactService } from './staff-contacts.js';

const SID = 'AC00000000000000000000000000000002';
const TOKEN = 'twilio-reply-token';
const ctx = { tenantId: 'default', actor: 'system:test' };
const NURSE = '+14155550161';
const BACKUP = '+14155550162';

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function until<T>(f: () => T | undefined | false, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((res) => setTimeout(res, 25));
  }
}

/** Acknowledgement by SMS reply through the real alert core, directory, notifier and a Twilio emulator. */
describeEachBackend('alert SMS replies', (backend) => {
  const fresh = freshDatabases(backend);

  async function setup() {
    const db = await fresh({ migrated: true });
    const store = await migratedStore(db);
    cleanups.push(() => store.close());
    const twilio: TwilioEmulator = await startTwilioEmulator({ accountSid: SID, authToken: TOKEN });
    cleanups.push(() => twilio.close());
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    const cipher = new EnvelopeCipher(keyring);
    const config = loadConfig({ ...db.env });
    let seq = 0;
    const core: CoreDeps = {
      config,
      store,
      cipher,
      templates: TemplateRegistry.load(),
      clock: () => new Date(),
      newId: () => `id-${Date.now()}-${++seq}`,
      wake: () => {},
    };
    const sms = new TwilioSmsChannel({
      baseUrl: twilio.baseUrl,
      accountSid: SID,
      authToken: TOKEN,
      from: '+15005550006',
      statusCallbackUrl: 'https://127.0.0.1:1/v1/providers/twilio/status',
      timeoutMs: 5_000,
    });
    const errors: unknown[] = [];
    const dispatcher = new AlertDispatcher(
      store,
      { sms },
      {
        owner: 'node-a',
        organisationName: 'General Hospital',
        publicUrl: 'https://sealpost.example',
        leaseMs: 30_000,
        pollMs: 60_000,
        maxAttempts: 3,
        backoffBaseMs: 100,
        backoffCapMs: 100,
        timeoutMs: 5_000,
        concurrency: 4,
      },
      core.clock,
      (e) => errors.push(e),
    );
    cleanups.push(() => dispatcher.stop());
    const notifier = new AlertNotifierService({
      cipher,
      newId: core.newId,
      dispatcher,
      owner: 'node-a',
      leaseMs: 30_000,
    });
    const alerting = buildAlerting(
      core,
      { resolver: new Directory(new ScheduleService(core)), notifier },
      { owner: 'node-a', onError: (e) => errors.push(e) },
    );
    const replies = new AlertSmsReplies({
      store,
      cipher,
      tenantId: 'default',
      sms,
      responder: () => alerting.alerts,
      clock: core.clock,
      newId: core.newId,
      timeoutMs: 5_000,
      onError: (e) => errors.push(e),
    });
    await store.read.tenants.ensure('default', 'Clinic', 1);
    const contacts = new StaffContactService({ store, clock: core.clock });
    for (const [id, phone] of [
      ['nurse', NURSE],
      ['backup', BACKUP],
    ] as const) {
      await store.transaction((tx) =>
        tx.users.insert({
          id,
          tenant_id: 'default',
          email: `${id}@clinic.test`,
          display_name: id,
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
      await contacts.put(ctx, id, {
        contacts: [{ kind: 'sms', value: phone }],
        settings: { language: 'en', timeZone: 'UTC', quietHours: null, doNotDisturbUntil: null },
      });
    }
    await alerting.escalationPolicies.create(ctx, {
      name: 'nurse then backup',
      isDefault: true,
      steps: [
        { targets: ['target'], channels: ['sms'], waitSeconds: 600 },
        { targets: ['user:backup'], channels: ['sms'], waitSeconds: 600 },
      ],
    });
    const state = async (id: string) =>
      (
        await db.query<{ state: string }>(`select state from alerts where id = ${backend === 'sqlite' ? '?' : '$1'}`, [
          id,
        ])
      )[0]!.state;
    return { store, twilio, replies, alerting, state, errors };
  }

  it('acknowledges with "1" and passes on with "2D", bound to the alert and the sender; other texts fall through', async () => {
    const { twilio, replies, alerting, state, errors } = await setup();
    const trigger = (summary: string) =>
      alerting.alerts.trigger(ctx, {
        priority: 'medium',
        target: 'user:nurse',
        summary,
        details: `K+ 6.9 for ${PHI_MARKER}`,
      });
    const to = (phone: string, text: string) => () =>
      twilio.messages.find((m) => m.to === phone && m.body.includes(text));
    const first = await trigger('Critical potassium result');
    await until(to(NURSE, 'Reply 1 to acknowledge'));
    const second = await trigger('Telemetry lead off');
    await until(to(NURSE, 'Reply 2 to acknowledge'));

    // Not replies, or not ours: consent's keywords, an unknown number, a code nobody was sent.
    expect(await replies.handle(NURSE, 'STOP')).toBe(false);
    expect(await replies.handle('+14155550199', '1')).toBe(false);
    expect(await replies.handle(NURSE, '3')).toBe(false);
    expect(await replies.handle(BACKUP, '1')).toBe(false);

    expect(await replies.handle('+1 (415) 555-0161', ' 1 ')).toBe(true);
    expect(await state(first.alertId)).toBe('acknowledged');
    expect(await state(second.alertId)).not.toBe('acknowledged');
    await until(to(NURSE, 'Alert 1 acknowledged'));

    // "2D" passes the second alert on at once: the backup is told now, not in ten minutes.
    expect(await replies.handle(NURSE, '2d')).toBe(true);
    await until(to(NURSE, 'Alert 2D passed on'));
    await until(to(BACKUP, 'Telemetry lead off'));

    // A reply to an alert closed meanwhile gets a short answer, and changes nothing.
    await alerting.alerts.resolve(ctx, first.alertId, { via: 'api' });
    expect(await replies.handle(NURSE, '1')).toBe(true);
    await until(to(NURSE, 'Alert 1 is already closed'));
    expect(await state(first.alertId)).toBe('resolved');

    const bodies = twilio.messages.map((m) => m.body).join('\n');
    expect(bodies).not.toContain(PHI_MARKER);
    expect(bodies).not.toContain('6.9');
    expect(errors).toEqual([]);
  });
});
