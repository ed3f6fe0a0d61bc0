import { afterEach, beforeAll, expect, it } from 'vitest';
import { v7 as uuidv7 } from 'uuid';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { describeEachBackend, freshDatabases, migratedStore, type TestDatabase } from '../helpers/backends.js';
import { clientCert, serverCert, testCa, type Pem } from '../helpers/transport-pki.js';
import { PHI_MARKER } from '../../src/core/templates/template-test-fixtures.js';
import { loadConfig } from '../../src/config/load-config.js';
import type { CoreDeps, RequestContext } from '../../src/core/context.js';
import { AppError } from '../../src/core/errors.js';
import type { KyselyStore } from '../../src/store/kysely-store.js';
import type { AlertResponder, AlertTrigger, TriggerInput } from '../../src/alerting/alert-types.js';
import type { AlertService } from '../../src/alerting/alert-service.js';
import { AlarmIntake } from '../../src/alerting/devices/alarm-intake.js';
import { MedicalDeviceService } from '../../src/alerting/devices/medical-device-service.js';
import { startMqttBroker, type MqttBroker } from '../../src/api/mqtt-broker.js';

/**
 * The embedded broker over real TLS with client certificates, on both backends, with a small fake of
 * the alert service's ports (what the intake calls is the contract; test/e2e/mqtt-app.int.test.ts
 * runs the same path through the application and the real AlertService).
 */

const admin: RequestContext = { tenantId: 'default', actor: 'cli' };

/**
 * Records the calls; folds triggers by dedup key like the real service; `gate` holds triggers back;
 * `refuseTarget` refuses triggers at other targets than it (as the service refuses an erased patient's
 * care team); `told` is who was told of which alert (the service's `onlyRecipient` check).
 */
class FakeAlerts implements AlertTrigger, AlertResponder, Pick<AlertService, 'respond'> {
  triggers: TriggerInput[] = [];
  responses: { action: string; alertId: string; by: unknown; o?: unknown }[] = [];
  gate: Promise<void> | null = null;
  refuseTarget: string | null = null;
  told = new Map<string, string[]>([
    ['al-1', ['u-1']],
    ['al-2', ['u-2']],
    ['closed-alert', ['u-1']],
  ]);
  private open = new Map<string, string>();
  async trigger(_ctx: RequestContext, input: TriggerInput) {
    await this.gate;
    this.triggers.push(input);
    if (this.refuseTarget && input.target !== this.refuseTarget) throw new AppError('SP_ALERT_TARGET_NOT_FOUND');
    const existing = input.dedupKey ? this.open.get(input.dedupKey) : undefined;
    if (existing) return { alertId: existing, created: false, count: 2 };
    const alertId = uuidv7();
    if (input.dedupKey) this.open.set(input.dedupKey, alertId);
    return { alertId, created: true, count: 1 };
  }
  async acknowledge(_ctx: RequestContext, alertId: string, by: unknown) {
    if (alertId === 'closed-alert') throw new AppError('SP_ALERT_CLOSED');
    this.responses.push({ action: 'acknowledge', alertId, by });
  }
  async decline(_ctx: RequestContext, alertId: string, by: unknown) {
    this.responses.push({ action: 'decline', alertId, by });
  }
  async resolve(_ctx: RequestContext, alertId: string, by: unknown) {
    for (const [k, v] of this.open) if (v === alertId) this.open.delete(k);
    this.responses.push({ action: 'resolve', alertId, by });
  }
  async respond(
    _ctx: RequestContext,
    alertId: string,
    action: string,
    by: { userId?: string },
    o: { onlyRecipient?: boolean } = {},
  ): Promise<never> {
    const told = this.told.get(alertId);
    if (!told) throw new AppError('SP_ALERT_NOT_FOUND');
    if (o.onlyRecipient && !told.includes(by.userId ?? '')) throw new AppError('SP_ALERT_NOT_RECIPIENT');
    if (alertId === 'closed-alert') throw new AppError('SP_ALERT_CLOSED');
    this.responses.push({ action, alertId, by, o });
    return undefined as never;
  }
}

let ca: Pem;
let server: Pem;
let monitor: Pem;
let gateway: Pem;
let stranger: Pem;
beforeAll(async () => {
  ca = await testCa('devices CA');
  [server, monitor, gateway, stranger] = await Promise.all([
    serverCert('sealpost mqtt', { ca }),
    clientCert('mon-4w-12', { ca }),
    clientCert('gw-1', { ca }),
    clientCert('unregistered', { ca }),
  ]);
});

const alarm = (alarmId: string, over: Record<string, unknown> = {}) =>
  JSON.stringify({ alarmId, priority: 'high', condition: 'SpO2 low', observedAt: '2026-12-07T02:30:00Z', ...over });

describeEachBackend('embedded MQTT broker', (backend) => {
  const fresh = freshDatabases(backend);
  let broker: MqttBroker | null = null;
  let clients: MqttClient[] = [];
  afterEach(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true).catch(() => {})));
    clients = [];
    await broker?.close();
    broker = null;
  });

  async function setup() {
    const db = await fresh();
    const store = await migratedStore(db);
    await store.transaction((tx) => tx.tenants.ensure('default', 'default', Date.now()));
    const config = loadConfig({ SEALPOST_PUBLIC_URL: 'https://sealpost.test', SEALPOST_DATA_DIR: db.dataDir });
    const clock = { offsetMs: 0 };
    const deps = {
      config,
      store,
      clock: () => new Date(Date.now() + clock.offsetMs),
      newId: uuidv7,
    } as unknown as CoreDeps;
    const devices = new MedicalDeviceService(deps);
    const alerts = new FakeAlerts();
    const intake = new AlarmIntake(deps, { trigger: alerts, responder: alerts });
    broker = await startMqttBroker({
      host: '127.0.0.1',
      port: 0,
      tls: { cert: server.cert, key: server.key, ca: ca.cert },
      intake,
    });
    await devices.add(admin, { id: 'mon-4w-12', certPem: monitor.cert, location: '4-west/12' });
    await devices.add(admin, { id: 'gw-1', kind: 'paging-gateway', certPem: gateway.cert, location: '4-west/desk' });
    return { db, store, devices, alerts, clock, intake, port: broker.port };
  }

  async function connect(port: number, pem: Pem, clientId: string, extra: IClientOptions = {}) {
    const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${port}`, {
      key: pem.key,
      cert: pem.cert,
      ca: ca.cert,
      clientId,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
      ...extra,
    });
    clients.push(c);
    return c;
  }

  /** Publishes QoS 1; 'acked' on PUBACK, 'closed' when the broker closed the connection instead. */
  function publish(c: MqttClient, topic: string, payload: string) {
    return new Promise<'acked' | 'closed'>((resolve) => {
      c.once('close', () => resolve('closed'));
      c.publish(topic, payload, { qos: 1 }, (err) => resolve(err ? 'closed' : 'acked'));
    });
  }

  const refusals = async (db: TestDatabase) =>
    (await db.query<{ entry: string }>("select entry from audit_entries where action = 'mqtt.refused'")).map(
      (r) => JSON.parse(r.entry) as { actor: string; details: Record<string, unknown> },
    );
  const alarmRows = async (db: TestDatabase) => (await db.query('select * from device_alarms')).length;
  const T = 'sealpost/default/devices/mon-4w-12';

  it('turns an alarm into an alert at the unit charge nurse, PUBACKs only once it is durable, folds repeats', async () => {
    const { db, alerts, port } = await setup();
    const c = await connect(port, monitor, 'default/mon-4w-12');
    let release!: () => void;
    alerts.gate = new Promise((r) => (release = r));
    let acked = false;
    const first = publish(c, `${T}/alarms`, alarm('a-1', { value: `88 ${PHI_MARKER}` })).then((r) => {
      acked = true;
      return r;
    });
    // The alert is held back: no PUBACK, no alarm record.
    await new Promise((r) => setTimeout(r, 300));
    expect(acked).toBe(false);
    expect(await alarmRows(db)).toBe(0);
    release();
    expect(await first).toBe('acked');
    // By the time the PUBACK arrived, the alarm and its alert were recorded.
    expect(await alarmRows(db)).toBe(1);
    expect(alerts.triggers).toEqual([
      {
        priority: 'high',
        target: 'charge_nurse@4-west',
        summary: 'High alarm: SpO2 low (4-west bed 12)',
        details: JSON.stringify({
          condition: 'SpO2 low',
          observedAt: '2026-12-07T02:30:00Z',
          value: `88 ${PHI_MARKER}`,
        }),
        source: 'device:mon-4w-12',
        dedupKey: 'device:mon-4w-12:1:a-1',
      },
    ]);
    // A QoS 1 repeat of the same alarm id is acknowledged and folds: no second trigger.
    expect(await publish(c, `${T}/alarms`, alarm('a-1'))).toBe('acked');
    expect(alerts.triggers).toHaveLength(1);
    // Cleared resolves it, via the device; a second clearing does nothing more.
    expect(await publish(c, `${T}/alarms/a-1/cleared`, '')).toBe('acked');
    expect(await publish(c, `${T}/alarms/a-1/cleared`, '')).toBe('acked');
    expect(alerts.responses.filter((r) => r.action === 'resolve')).toEqual([
      { action: 'resolve', alertId: expect.any(String), by: { via: 'device' } },
    ]);
    // Even after its alert is resolved, the same alarm id stays folded.
    expect(await publish(c, `${T}/alarms`, alarm('a-1'))).toBe('acked');
    expect(alerts.triggers).toHaveLength(1);
    const audit = (await db.query<{ entry: string }>('select entry from audit_entries')).map((r) => r.entry).join('\n');
    expect(audit).not.toContain(PHI_MARKER);
  });

  it("refuses and audits another device's topic, bad payloads and subscriptions; nothing is written", async () => {
    const { db, alerts, port } = await setup();
    const cases: [string, string, string][] = [
      ['sealpost/default/devices/gw-1/alarms', alarm('x-1'), 'topic_not_allowed'],
      ['sealpost/default/devices/mon-4w-12/commands', '{}', 'topic_not_allowed'],
      ['sealpost/other/devices/mon-4w-12/alarms', alarm('x-2'), 'topic_not_allowed'],
      [`${T}/alarms`, `not json ${PHI_MARKER}`, 'payload_not_json'],
      [`${T}/alarms`, alarm('x-3', { priority: 'urgent' }), 'payload_schema'],
      [`${T}/alarms`, alarm('x-4', { patientName: PHI_MARKER }), 'payload_schema'],
      [`${T}/alarms`, alarm('x-5', { condition: `${PHI_MARKER}\nline` }), 'payload_schema'],
      [`${T}/alarms`, alarm('x-6', { value: 'x'.repeat(5000) }), 'payload_too_large'],
      [`${T}/status`, '{"status":"asleep"}', 'payload_schema'],
      [`${T}/acks`, '{"alertId":"a","userId":"u","action":"acknowledge"}', 'not_a_gateway'],
    ];
    for (const [topic, payload, code] of cases) {
      const c = await connect(port, monitor, 'default/mon-4w-12');
      expect(await publish(c, topic, payload), code).toBe('closed');
    }
    const c = await connect(port, monitor, 'default/mon-4w-12');
    // The SUBACK carries the failure code 0x80; the connection stays up.
    await expect(c.subscribeAsync(`${T}/commands`, { qos: 1 })).rejects.toThrow(/Subscribe error/);
    expect(c.connected).toBe(true);
    await expect
      .poll(async () => (await refusals(db)).map((r) => r.details.code))
      .toEqual(expect.arrayContaining([...new Set(cases.map((x) => x[2])), 'subscribe_not_allowed']));
    for (const r of await refusals(db)) expect(r.actor).toBe('device:mon-4w-12');
    expect(alerts.triggers).toEqual([]);
    expect(await alarmRows(db)).toBe(0);
    const audit = (await db.query<{ entry: string }>('select entry from audit_entries')).map((r) => r.entry).join('\n');
    expect(audit).not.toContain(PHI_MARKER);
  });

  it('refuses an unregistered or removed device, a foreign client id and a foreign Last Will at CONNECT', async () => {
    const { db, devices, port } = await setup();
    await expect(connect(port, stranger, 'default/unregistered')).rejects.toThrow(/Not authorized/i);
    await expect(connect(port, monitor, 'default/gw-1')).rejects.toThrow(/Not authorized/i);
    await expect(
      connect(port, monitor, 'default/mon-4w-12', {
        will: {
          topic: 'sealpost/default/devices/gw-1/status',
          payload: Buffer.from('{"status":"offline"}'),
          qos: 1,
          retain: false,
        },
      }),
    ).rejects.toThrow(/Not authorized/i);
    await devices.remove(admin, 'mon-4w-12');
    await expect(connect(port, monitor, 'default/mon-4w-12')).rejects.toThrow(/Not authorized/i);
    await expect
      .poll(async () => (await refusals(db)).map((r) => r.details.code).sort())
      .toEqual(['client_id_mismatch', 'unknown_certificate', 'will_not_allowed']);
  });

  it('raises a technical alert from the Last Will and resolves it when the device is back', async () => {
    const { db, alerts, port } = await setup();
    const will = { topic: `${T}/status`, payload: Buffer.from('{"status":"offline"}'), qos: 1 as const, retain: false };
    const c = await connect(port, monitor, 'default/mon-4w-12', { will, keepalive: 5 });
    await expect
      .poll(async () => (await db.query("select status from medical_devices where id = 'mon-4w-12'"))[0])
      .toEqual({ status: 'online' });
    // The connection drops without DISCONNECT: the broker publishes the Will.
    c.stream.destroy();
    await expect.poll(() => alerts.triggers.length).toBe(1);
    expect(alerts.triggers[0]).toEqual({
      priority: 'medium',
      target: 'charge_nurse@4-west',
      summary: 'Device offline: mon-4w-12 (4-west bed 12)',
      source: 'device:mon-4w-12',
      dedupKey: 'device:mon-4w-12:offline',
    });
    const offlineAlert = (
      await db.query<{ offline_alert_id: string }>(
        "select offline_alert_id from medical_devices where id = 'mon-4w-12'",
      )
    )[0]!.offline_alert_id;
    expect(offlineAlert).toBeTruthy();
    const back = await connect(port, monitor, 'default/mon-4w-12', { will });
    await expect
      .poll(() => alerts.responses)
      .toContainEqual({ action: 'resolve', alertId: offlineAlert, by: { via: 'device' } });
    expect(await publish(back, `${T}/status`, '{"status":"online"}')).toBe('acked');
    expect(alerts.triggers).toHaveLength(1);
    const statuses = (
      await db.query<{ entry: string }>("select entry from audit_entries where action = 'medical_device.status'")
    ).map((r) => JSON.parse(r.entry).details.status);
    expect(statuses).toEqual(['online', 'offline', 'online']);
  });

  it('takes answers from a paging gateway only for people told of the alert; others are refused and audited', async () => {
    const { db, alerts, port } = await setup();
    const g = await connect(port, gateway, 'default/gw-1');
    const acks = 'sealpost/default/devices/gw-1/acks';
    const answer = (alertId: string, userId: string, action = 'acknowledge') =>
      publish(g, acks, JSON.stringify({ alertId, userId, action }));
    expect(await answer('al-1', 'u-1')).toBe('acked');
    expect(await answer('al-2', 'u-2', 'decline')).toBe('acked');
    // Not applied, audited with a reason, and taken off the queue (resending would never succeed).
    expect(await answer('al-1', 'u-never-told')).toBe('acked');
    expect(await answer('al-2', 'u-1', 'decline')).toBe('acked');
    expect(await answer('no-such-alert', 'u-1')).toBe('acked');
    expect(await answer('closed-alert', 'u-1')).toBe('acked');
    const only = { onlyRecipient: true };
    expect(alerts.responses).toEqual([
      { action: 'acknowledge', alertId: 'al-1', by: { userId: 'u-1', via: 'mqtt' }, o: only },
      { action: 'decline', alertId: 'al-2', by: { userId: 'u-2', via: 'mqtt' }, o: only },
    ]);
    await expect
      .poll(async () => (await refusals(db)).map((r) => [r.actor, r.details.code, r.details.topic]))
      .toEqual([
        ['device:gw-1', 'not_recipient', 'acks'],
        ['device:gw-1', 'alert_not_found', 'acks'],
        ['device:gw-1', 'alert_closed', 'acks'],
      ]);
    // A gateway raises no alarms.
    expect(await publish(g, 'sealpost/default/devices/gw-1/alarms', alarm('g-1'))).toBe('closed');
  });

  it('scopes alarm ids to a registration and to 7 days', async () => {
    const { alerts, devices, clock, port } = await setup();
    const c = await connect(port, monitor, 'default/mon-4w-12');
    expect(await publish(c, `${T}/alarms`, alarm('1'))).toBe('acked');
    expect(await publish(c, `${T}/alarms`, alarm('1'))).toBe('acked');
    expect(alerts.triggers).toHaveLength(1);
    await c.endAsync();
    // The monitor is replaced: the bed's id is registered again with the new monitor's certificate.
    await devices.remove(admin, 'mon-4w-12');
    const view = await devices.add(admin, { id: 'mon-4w-12', certPem: stranger.cert, location: '4-west/12' });
    expect(view.generation).toBe(2);
    const c2 = await connect(port, stranger, 'default/mon-4w-12');
    expect(await publish(c2, `${T}/alarms`, alarm('1', { condition: 'Asystole' }))).toBe('acked');
    expect(alerts.triggers.map((t) => [t.summary, t.dedupKey])).toEqual([
      ['High alarm: SpO2 low (4-west bed 12)', 'device:mon-4w-12:1:1'],
      ['High alarm: Asystole (4-west bed 12)', 'device:mon-4w-12:2:1'],
    ]);
    // Within 7 days the id folds; after them it names a new alarm (its clearing then resolves the new alert).
    clock.offsetMs = 6 * 24 * 3600_000;
    expect(await publish(c2, `${T}/alarms`, alarm('1'))).toBe('acked');
    expect(alerts.triggers).toHaveLength(2);
    expect(await publish(c2, `${T}/alarms/1/cleared`, '')).toBe('acked');
    clock.offsetMs = 8 * 24 * 3600_000;
    expect(await publish(c2, `${T}/alarms`, alarm('1', { condition: 'Apnea' }))).toBe('acked');
    expect(alerts.triggers.map((t) => t.summary)).toHaveLength(3);
    expect(alerts.triggers[2]!.summary).toBe('High alarm: Apnea (4-west bed 12)');
  });

  it('falls back to the charge nurse without the patient and without the sealed details', async () => {
    const { alerts, devices, port } = await setup();
    await devices.remove(admin, 'mon-4w-12');
    await devices.add(admin, { id: 'mon-4w-12', certPem: monitor.cert, location: '4-west/12', target: 'group:icu' });
    alerts.refuseTarget = 'charge_nurse@4-west';
    const c = await connect(port, monitor, 'default/mon-4w-12');
    expect(await publish(c, `${T}/alarms`, alarm('f-1', { value: `84 ${PHI_MARKER}` }))).toBe('acked');
    expect(alerts.triggers[1]).toEqual({
      priority: 'high',
      target: 'charge_nurse@4-west',
      summary: 'High alarm (4-west bed 12)',
      source: 'device:mon-4w-12',
      dedupKey: 'device:mon-4w-12:2:f-1',
      patientId: undefined,
      details: undefined,
    });
    // The offline alert's fallback names the device, as documented.
    expect(await publish(c, `${T}/status`, '{"status":"offline"}')).toBe('acked');
    expect(alerts.triggers[3]).toMatchObject({
      target: 'charge_nurse@4-west',
      summary: 'Device offline: mon-4w-12 (4-west bed 12)',
    });
  });

  it('closes a connection that sends a packet over the size limit, before it is read; others are still served', async () => {
    const { db, alerts, port } = await setup();
    const big = await connect(port, monitor, 'default/mon-4w-12');
    // 1 MiB: far over the 64 KiB limit (aedes itself would buffer up to 256 MiB).
    expect(await publish(big, `${T}/alarms`, alarm('big-1', { value: 'x'.repeat(1024 * 1024) }))).toBe('closed');
    await expect.poll(async () => (await refusals(db)).map((r) => r.details.code)).toEqual(['packet_too_large']);
    expect(alerts.triggers).toEqual([]);
    expect(await alarmRows(db)).toBe(0);
    // A huge CONNECT (a 200 KiB password) never reaches authentication.
    await expect(
      connect(port, gateway, 'default/gw-1', {
        username: 'u',
        password: Buffer.alloc(200 * 1024),
        connectTimeout: 3000,
      }),
    ).rejects.toThrow();
    const g = await connect(port, gateway, 'default/gw-1');
    expect(
      await publish(
        g,
        'sealpost/default/devices/gw-1/acks',
        JSON.stringify({ alertId: 'al-1', userId: 'u-1', action: 'acknowledge' }),
      ),
    ).toBe('acked');
    const m = await connect(port, monitor, 'default/mon-4w-12');
    expect(await publish(m, `${T}/alarms`, alarm('small-1'))).toBe('acked');
    expect(alerts.triggers).toHaveLength(1);
  });
});
