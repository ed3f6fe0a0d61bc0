import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import { describeEachBackend, createTestDatabase, type TestDatabase } from '../../test/helpers/backends.js';
import { FakeChannel, PHI_MARKER } from '../../test/helpers/in-memory-core.js';
import { samplePatient } from '../../test/helpers/sample-patient.js';
import { LocalKeyring } from '../crypto/local-keyring.js';
import { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import { TemplateRegistry } from '../core/templates/template-registry.js';
import { loadConfig } from '../config/load-config.js';
import { PatientService, type PatientInput } from '../core/patient-service.js';
import { PatientAccountService, type PatientSessions } from '../core/patient-account-service.js';
import type { CoreDeps } from '../core/context.js';
import type { KyselyStore } from '../store/kysely-store.js';
import { MessageNudges } from './message-nudges.js';
import type {
  ConversationEvent,
  ConversationReader,
  DeviceDirectory,
  MessagingDevice,
  Person,
} from './messaging-types.js';

const CONTENT = 'SECRET-CONTENT-77a1';

/** The conversations part: one conversation whose events and cursors the test sets. */
class Conversation implements ConversationReader {
  events: ConversationEvent[] = [];
  members: string[] = [];
  cursors = new Map<string, number>();
  add(kind: ConversationEvent['kind'], senderDevice: string, urgent = false): number {
    const seq = this.events.length + 1;
    this.events.push({
      conversationId: 'conv-n',
      seq,
      kind,
      epoch: 1,
      sender: { deviceId: senderDevice },
      data: Buffer.from(CONTENT).toString('base64'),
      urgent,
      attachments: [],
      recalledSeq: null,
      createdAt: new Date().toISOString(),
    });
    return seq;
  }
  async memberDevices() {
    return this.members;
  }
  async eventsFor(_t: string, _c: string, d: string, after: number, limit: number) {
    return this.members.includes(d) ? this.events.filter((e) => e.seq > after).slice(0, limit) : [];
  }
  async conversationsOf(_t: string, d: string) {
    return [{ conversationId: 'conv-n', latestSeq: this.events.length, cursor: this.cursors.get(d) ?? 0, epoch: 1 }];
  }
  async acknowledge() {}
}

class Directory implements DeviceDirectory {
  map = new Map<string, MessagingDevice>();
  add(deviceId: string, person: Person) {
    this.map.set(deviceId, {
      tenantId: 'default',
      deviceId,
      person,
      signatureKey: new Uint8Array(32),
      status: 'active',
      registeredAt: 0,
      revokedAt: null,
    });
  }
  async device(_tx: unknown, _t: string, d: string) {
    return this.map.get(d) ?? null;
  }
  async activeDevices() {
    return [];
  }
  async claimKeyPackages() {
    return [];
  }
}

describeEachBackend('offline message nudges', (backend) => {
  let db: TestDatabase;
  let store: KyselyStore;
  let deps: CoreDeps;
  const email = new FakeChannel('email');
  const sms = new FakeChannel('sms');
  const conv = new Conversation();
  const dir = new Directory();
  const errors: unknown[] = [];
  let nudges: MessageNudges;
  const nurse = { kind: 'user', id: `u-nurse-${uuidv7()}` } as Person;
  const doctor = { kind: 'user', id: `u-doc-${uuidv7()}` } as Person;
  let patient: Person;

  beforeAll(async () => {
    db = await createTestDatabase(backend);
    store = db.open();
    await store.migrate();
    const now = Date.now();
    await store.read.tenants.ensure('default', 'Clinic', now);
    const config = loadConfig({
      ...db.env,
      SEALPOST_DATA_DIR: db.dataDir,
      SEALPOST_PUBLIC_URL: 'https://sp.example.test',
    });
    const { keyring } = LocalKeyring.openOrCreate(join(db.dataDir, 'keyring.json'));
    deps = {
      config,
      store,
      cipher: new EnvelopeCipher(keyring),
      templates: TemplateRegistry.load(),
      clock: () => new Date(),
      newId: uuidv7,
      wake: () => {},
      signing: { signer: () => keyring.signer(), publishedKeys: () => keyring.publishedSigningKeys() },
    };
    const ctx = { tenantId: 'default', actor: 'api-key:test' };
    await new PatientService(deps).upsert(
      ctx,
      'pat-n1',
      samplePatient({ name: { given: ['Ana'], family: `Lopez ${PHI_MARKER}` } }) as PatientInput,
    );
    const noSessions = {} as PatientSessions;
    const account = await new PatientAccountService(deps, { email, sms }, noSessions).open(ctx, 'pat-n1', {
      system: 'email',
      value: 'ana@example.com',
    });
    patient = { kind: 'patient', id: account.id };
    await store.transaction(async (tx) => {
      for (const u of [nurse, doctor])
        await tx.users.insert({
          id: u.id,
          tenant_id: 'default',
          email: `${u.id}@staff.test`,
          display_name: `Dr ${PHI_MARKER}`,
          roles: 'nurse',
          status: 'active',
          password_hash: null,
          locked_until: null,
          sso_issuer: null,
          sso_subject: null,
          created_at: now,
          updated_at: now,
        });
      await tx.alertNotifications.replaceContacts('default', nurse.id, [
        { tenant_id: 'default', user_id: nurse.id, rank: 0, kind: 'sms', value: '+14155550199', updated_at: now },
      ]);
    });
    dir.add('d-nurse', nurse);
    dir.add('d-doctor', doctor);
    dir.add('d-doctor-2', doctor);
    dir.add('d-patient', patient);
    conv.members = ['d-nurse', 'd-doctor', 'd-doctor-2', 'd-patient'];
    nudges = new MessageNudges({
      core: deps,
      reader: conv,
      devices: dir,
      channels: { email, sms },
      organisationName: 'Clinic',
      publicUrl: 'https://sp.example.test',
      delayMs: 10,
      windowMs: 15 * 60_000,
      timeoutMs: 5000,
      onError: (e) => errors.push(e),
    });
  }, 60_000);
  afterAll(async () => {
    await nudges?.stop();
    await db?.drop();
  });

  const sent = () => [...email.sent, ...sms.sent];

  it('nudges each person who did not receive a message once per window, never the sender, with no content or names', async () => {
    // The doctor's second device acknowledged the first message: the doctor has it.
    const first = conv.add('application', 'd-nurse');
    conv.cursors.set('d-doctor-2', first);
    expect(await nudges.check('default', 'conv-n', first)).toBe(1);
    expect(sent().map((m) => m.to)).toEqual(['ana@example.com']);
    const m = sent()[0]!;
    expect(m.link).toBe('https://sp.example.test/portal/inbox');
    expect(m.text).toContain('new secure message');
    for (const leak of [PHI_MARKER, CONTENT, 'Ana', 'Lopez', Buffer.from(CONTENT).toString('base64')])
      expect(JSON.stringify(sent())).not.toContain(leak);

    // A later message the doctor has not acknowledged: the doctor (account e-mail) is nudged; the
    // patient, already nudged in this window, is not nudged again.
    const second = conv.add('application', 'd-nurse');
    expect(await nudges.check('default', 'conv-n', second)).toBe(1);
    expect(sent().map((m) => m.to)).toEqual(['ana@example.com', `${doctor.id}@staff.test`]);

    // Two nodes looking at the same time: the database counter lets one nudge through.
    const third = conv.add('application', 'd-patient');
    const both = await Promise.all([
      nudges.check('default', 'conv-n', third),
      nudges.check('default', 'conv-n', third),
    ]);
    expect(both.sort()).toEqual([0, 1]);
    expect(sms.sent.map((m) => m.to)).toEqual(['+14155550199']);
    expect(JSON.stringify(sms.sent)).not.toContain(PHI_MARKER);

    const entries = await db.query<{ action: string; entry: string }>(
      `select action, entry from audit_entries where action like 'message.nudge%'`,
    );
    expect(entries.filter((e) => e.action === 'message.nudge_sent')).toHaveLength(3);
    expect(JSON.stringify(entries)).not.toContain(PHI_MARKER);
    expect(errors).toEqual([]);
  });

  it('sends nothing for commits, proposals and other non-application events', async () => {
    const before = sent().length;
    const seq = conv.add('commit', 'd-nurse');
    expect(await nudges.check('default', 'conv-n', seq)).toBe(0);
    expect(sent().length).toBe(before);
  });

  it('looks only after the delay, from the node that published', async () => {
    const before = email.sent.length;
    const other = new MessageNudges({
      core: deps,
      reader: conv,
      devices: dir,
      channels: { email, sms },
      organisationName: 'Clinic',
      publicUrl: 'https://sp.example.test',
      delayMs: 10,
      windowMs: 1, // no window left: the look itself is what is tested
      timeoutMs: 5000,
      onError: (e) => errors.push(e),
    });
    const seq = conv.add('application', 'd-nurse');
    for (const d of ['d-doctor', 'd-nurse']) conv.cursors.set(d, seq);
    other.published('default', 'conv-n', seq);
    while (email.sent.length === before) await new Promise((r) => setTimeout(r, 10));
    await other.stop();
    expect(email.sent.slice(before).map((m) => m.to)).toEqual(['ana@example.com']);
    expect(sms.sent).toHaveLength(1);
  });
});
