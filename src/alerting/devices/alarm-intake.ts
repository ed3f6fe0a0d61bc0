import type { CoreDeps, RequestContext } from '../../core/context.js';
import { audit } from '../../core/context.js';
import { AppError } from '../../core/errors.js';
import { DEFAULT_TENANT } from '../../core/domain.js';
import type { MedicalDeviceRow } from '../../store/repositories/medical-device-repository.js';
import type { AlertResponder, AlertTrigger, TriggerInput } from '../alert-types.js';
import type { AlertService } from '../alert-service.js';
import { parseLocation } from './medical-device-service.js';
import { readPayload, type DeviceTopic } from './alarm-messages.js';

/**
 * The alert service as device alarms use it (AlertService implements all of it). A paging gateway's
 * answers go through `respond` with `onlyRecipient`: only for a person who was told of the alert.
 */
export interface AlertPorts {
  trigger: AlertTrigger;
  responder: AlertResponder & Pick<AlertService, 'respond'>;
}

/** A device as the broker knows it once its certificate was recognised. */
export interface DeviceIdentity {
  tenantId: string;
  deviceId: string;
  kind: string;
}

/**
 * A message Sealpost will not act on, with a PHI-free reason code (`unknown_device`,
 * `topic_not_allowed`, `payload_too_large`, `payload_not_json`, `payload_schema`, `not_a_gateway`,
 * `alert_refused`…). The broker does not acknowledge it (embedded: the connection closes).
 */
export class MqttRefusal extends Error {
  constructor(readonly code: string) {
    super(`MQTT message refused: ${code}`);
    this.name = 'MqttRefusal';
  }
}

/** What became of a message that was accepted. */
export type IntakeOutcome = 'alert' | 'duplicate' | 'cleared' | 'ignored' | 'status' | 'response' | 'response_rejected';

const REFUSAL_AUDIT_WINDOW_MS = 60_000;
/**
 * An alarm id received this long ago names a new alarm when it comes again (devices that restart
 * their alarm counters); QoS 1 repeats arrive within minutes.
 */
export const ALARM_ID_WINDOW_MS = 7 * 24 * 3600_000;
/** Why an answer of a paging gateway was not applied, by the alert service's error code. */
const RESPONSE_REFUSALS: Record<string, string> = {
  SP_ALERT_NOT_FOUND: 'alert_not_found',
  SP_ALERT_NOT_RECIPIENT: 'not_recipient',
  SP_ALERT_CLOSED: 'alert_closed',
};
const TITLE = { high: 'High', medium: 'Medium', low: 'Low' } as const;

/**
 * Turns device messages into alerts: an alarm is triggered (folding QoS 1 repeats by its alarm id),
 * a cleared alarm resolves its alert, an `offline` status (or the Last Will) raises a technical
 * alert that `online` resolves, and a paging gateway's answers acknowledge or decline alerts.
 * Every method resolves only once what it did is durable: the caller acknowledges the message after.
 */
export class AlarmIntake {
  private readonly refusalsSeen = new Map<string, { at: number; suppressed: number }>();
  /** Messages this node acted on, and refused (since it started). */
  readonly counts = { handled: 0, refused: 0 };

  constructor(
    private readonly deps: CoreDeps,
    private readonly ports: AlertPorts,
  ) {}

  /** The registered, not removed device presenting this certificate (SHA-256 hex of its DER), or null. */
  async deviceByCert(certSha256: string): Promise<DeviceIdentity | null> {
    const r = await this.deps.store.read.medicalDevices.findActiveByCert(certSha256.toLowerCase());
    return r ? { tenantId: r.tenant_id, deviceId: r.id, kind: r.kind } : null;
  }

  /**
   * Acts on one message on a device topic. `from` is the authenticated publisher (embedded broker):
   * the topic must be its own. Throws MqttRefusal for what must not be acknowledged; other errors
   * (the database is unavailable) propagate, and the message is not acknowledged either.
   */
  async handle(topic: DeviceTopic, payload: Buffer | string, from?: DeviceIdentity): Promise<IntakeOutcome> {
    if (from && (from.tenantId !== topic.tenantId || from.deviceId !== topic.deviceId))
      throw new MqttRefusal('topic_not_allowed');
    const device = await this.deps.store.read.medicalDevices.get(topic.tenantId, topic.deviceId);
    if (!device || device.removed_at != null) throw new MqttRefusal('unknown_device');
    if ((topic.kind === 'acks') !== (device.kind === 'paging-gateway'))
      throw new MqttRefusal(topic.kind === 'acks' ? 'not_a_gateway' : 'topic_not_allowed');
    const ctx: RequestContext = { tenantId: device.tenant_id, actor: `device:${device.id}` };
    const outcome = await this.act(ctx, device, topic, payload);
    this.counts.handled++;
    return outcome;
  }

  private act(ctx: RequestContext, device: MedicalDeviceRow, topic: DeviceTopic, payload: Buffer | string) {
    switch (topic.kind) {
      case 'alarm':
        return this.alarm(ctx, device, payload);
      case 'cleared':
        return this.cleared(ctx, device, topic.alarmId, payload);
      case 'status':
        return this.status(ctx, device, payload);
      case 'acks':
        return this.response(ctx, device, payload);
    }
  }

  private async alarm(ctx: RequestContext, device: MedicalDeviceRow, payload: Buffer | string): Promise<IntakeOutcome> {
    const read = readPayload('alarm', payload);
    if (!read.ok) throw new MqttRefusal(`payload_${read.problem}`);
    const a = read.value;
    const { store, clock } = this.deps;
    const gen = Number(device.generation);
    const now = clock().getTime();
    // QoS 1 is at least once: an alarm id this registration sent in the window (even one whose alert
    // is resolved) is not new.
    const seen = await store.read.medicalDevices.getAlarm(device.tenant_id, device.id, gen, a.alarmId);
    if (seen && Number(seen.received_at) >= now - ALARM_ID_WINDOW_MS) return 'duplicate';
    const details = JSON.stringify({ condition: a.condition, observedAt: a.observedAt, value: a.value ?? null });
    const result = await this.triggerWithFallback(
      ctx,
      device,
      {
        priority: a.priority,
        summary: `${TITLE[a.priority]} alarm: ${a.condition} (${place(device)})`,
        details,
        patientId: device.patient_id ?? undefined,
        source: `device:${device.id}`,
        dedupKey: `device:${device.id}:${gen}:${a.alarmId}`,
      },
      `${TITLE[a.priority]} alarm (${place(device)})`,
    );
    // Written after the alert is durable: a crash in between leaves an open alert that the resent
    // alarm folds into (same dedup key), never an alarm id recorded without its alert.
    await store.transaction((tx) =>
      tx.medicalDevices.insertAlarm(
        {
          tenant_id: device.tenant_id,
          device_id: device.id,
          generation: gen,
          alarm_id: a.alarmId,
          alert_id: result.alertId,
          received_at: now,
          cleared_at: null,
        },
        now - ALARM_ID_WINDOW_MS,
      ),
    );
    await store.durable();
    return result.created ? 'alert' : 'duplicate';
  }

  private async cleared(
    ctx: RequestContext,
    device: MedicalDeviceRow,
    alarmId: string,
    payload: Buffer | string,
  ): Promise<IntakeOutcome> {
    const bytes = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.length;
    if (bytes > 4096) throw new MqttRefusal('payload_too_large');
    const { store, clock } = this.deps;
    const gen = Number(device.generation);
    const rec = await store.read.medicalDevices.getAlarm(device.tenant_id, device.id, gen, alarmId);
    // A clearing of an alarm never received (or already cleared) has nothing to resolve.
    if (!rec || rec.cleared_at != null) return 'ignored';
    await this.resolveQuietly(ctx, rec.alert_id);
    await store.transaction((tx) =>
      tx.medicalDevices.clearAlarm(device.tenant_id, device.id, gen, alarmId, clock().getTime()),
    );
    await store.durable();
    return 'cleared';
  }

  private async status(
    ctx: RequestContext,
    device: MedicalDeviceRow,
    payload: Buffer | string,
  ): Promise<IntakeOutcome> {
    const read = readPayload('status', payload);
    if (!read.ok) throw new MqttRefusal(`payload_${read.problem}`);
    const { store, clock } = this.deps;
    let offlineAlertId = device.offline_alert_id;
    if (read.value.status === 'offline' && offlineAlertId === null) {
      const r = await this.triggerWithFallback(
        ctx,
        device,
        {
          priority: 'medium',
          summary: `Device offline: ${device.id} (${place(device)})`,
          source: `device:${device.id}`,
          dedupKey: `device:${device.id}:offline`,
        },
        `Device offline: ${device.id} (${place(device)})`,
      );
      offlineAlertId = r.alertId;
    } else if (read.value.status === 'online' && offlineAlertId !== null) {
      await this.resolveQuietly(ctx, offlineAlertId);
      offlineAlertId = null;
    }
    const now = clock();
    await store.transaction(async (tx) => {
      await tx.medicalDevices.setStatus(device.tenant_id, device.id, read.value.status, offlineAlertId, now.getTime());
      if (device.status !== read.value.status)
        await audit(tx, ctx, now, {
          action: 'medical_device.status',
          targetType: 'medical_device',
          targetId: device.id,
          details: { status: read.value.status, alertId: offlineAlertId },
        });
    });
    await store.durable();
    return 'status';
  }

  /**
   * A paging gateway answers for a person: only one who was told of the alert (`onlyRecipient`).
   * An answer Sealpost will not apply (an unknown alert, a person not told, a closed alert) changes
   * nothing and is audited `mqtt.refused` with its reason; it is still taken off the queue (resending
   * it would never succeed; MQTT 3.1.1 has no negative PUBACK, the subscriber sends 135).
   */
  private async response(
    ctx: RequestContext,
    device: MedicalDeviceRow,
    payload: Buffer | string,
  ): Promise<IntakeOutcome> {
    const read = readPayload('acks', payload);
    if (!read.ok) throw new MqttRefusal(`payload_${read.problem}`);
    const { alertId, userId, action } = read.value;
    try {
      await this.ports.responder.respond(ctx, alertId, action, { userId, via: 'mqtt' }, { onlyRecipient: true });
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
      await this.refused({
        tenantId: device.tenant_id,
        deviceId: device.id,
        code: RESPONSE_REFUSALS[e.code] ?? 'response_refused',
        topicKind: 'acks',
      });
      return 'response_rejected';
    }
    return 'response';
  }

  /**
   * Triggers at the device's target: its override, else its patient's care team, else the charge
   * nurse of its unit. An alarm must reach someone: when the alert service refuses that (a target
   * or patient that no longer exists, a condition text that names the patient), it is raised again
   * at the unit's charge nurse with `fallbackSummary` (PHI-free: priority and place, or the device),
   * without the patient and without the details: sealed under the tenant's key they would outlive
   * the patient's erasure (the device's own display still shows the value).
   */
  private async triggerWithFallback(
    ctx: RequestContext,
    device: MedicalDeviceRow,
    input: Omit<TriggerInput, 'target'>,
    fallbackSummary: string,
  ) {
    const unitNurse = `charge_nurse@${parseLocation(device.location).unit}`;
    const target = device.target ?? (device.patient_id ? `careteam:${device.patient_id}` : unitNurse);
    try {
      return await this.ports.trigger.trigger(ctx, { ...input, target });
    } catch (e) {
      if (!(e instanceof AppError) || e.status >= 500) throw e;
    }
    const fallback = {
      ...input,
      patientId: undefined,
      details: undefined,
      summary: fallbackSummary,
      target: unitNurse,
    };
    try {
      return await this.ports.trigger.trigger(ctx, fallback);
    } catch (e) {
      if (e instanceof AppError && e.status < 500) throw new MqttRefusal('alert_refused');
      throw e;
    }
  }

  private async resolveQuietly(ctx: RequestContext, alertId: string): Promise<void> {
    try {
      await this.ports.responder.resolve(ctx, alertId, { via: 'device' });
    } catch (e) {
      // Already resolved or expired by a person: the clearing has nothing left to do.
      if (!(e instanceof AppError) || e.status >= 500) throw e;
    }
  }

  /**
   * Audits a refusal (`mqtt.refused`, ids and a reason code only), at most once per minute per
   * tenant, publisher and reason: a device that resends a refused message after each reconnect
   * cannot flood the audit log (the next entry counts what was left out).
   */
  async refused(r: { tenantId?: string; deviceId?: string; remoteAddress?: string; code: string; topicKind?: string }) {
    this.counts.refused++;
    const now = this.deps.clock();
    // A topic can name any tenant: one that does not exist is audited under the default tenant.
    const tenantId =
      r.tenantId && (await this.deps.store.read.tenants.exists(r.tenantId)) ? r.tenantId : DEFAULT_TENANT;
    const key = `${tenantId}|${r.deviceId ?? r.remoteAddress ?? ''}|${r.code}`;
    const seen = this.refusalsSeen.get(key);
    if (seen && now.getTime() - seen.at < REFUSAL_AUDIT_WINDOW_MS) {
      seen.suppressed++;
      return;
    }
    if (this.refusalsSeen.size > 10_000) this.refusalsSeen.clear();
    this.refusalsSeen.set(key, { at: now.getTime(), suppressed: 0 });
    const ctx: RequestContext = {
      tenantId,
      actor: r.deviceId ? `device:${r.deviceId}` : 'mqtt-peer',
      sourceIp: r.remoteAddress,
    };
    await this.deps.store.transaction((tx) =>
      audit(tx, ctx, now, {
        action: 'mqtt.refused',
        outcome: 'failure',
        targetType: r.deviceId ? 'medical_device' : undefined,
        targetId: r.deviceId,
        details: { code: r.code, topic: r.topicKind ?? null, suppressedBefore: seen?.suppressed ?? 0 },
      }),
    );
  }
}

/** `4-west bed 12` from `4-west/12` (PHI-free: a place, not a person). */
function place(device: MedicalDeviceRow): string {
  const { unit, bed } = parseLocation(device.location);
  return `${unit} bed ${bed}`;
}
