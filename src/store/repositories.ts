import { sql, type Kysely, type Selectable, type Insertable, type Updateable } from 'kysely';
import type { Database } from './schema.js';
import { encodeAuditEntry, type AuditEvent } from '../audit/audit-entry.js';
import type { BackendCapabilities } from './backends/backend-capabilities.js';
import type { PendingAudit } from './audit-sequencing.js';
import { SessionRepository } from './session-repository.js';
import { ChallengeRepository } from './challenge-repository.js';
import { indexForm } from './index-form.js';
import { MfaRepository } from './mfa-repository.js';
import { AuditLogRepository } from './audit-log-repository.js';
import { AuditQueryRepository } from './audit-query-repository.js';
import { PatientAccountRepository } from './patient-account-repository.js';
import { UserRepository } from './user-repository.js';
import { AccessRepository } from './access-repository.js';
import { OAuthRepository } from './oauth-repository.js';
import { OidcRepository } from './oidc-repository.js';

export type PatientRow = Selectable<Database['patients']>;
export type ContactPointRow = Selectable<Database['contact_points']>;
export type NotificationRow = Selectable<Database['notifications']>;
export type DeliveryRow = Selectable<Database['deliveries']>;
export type AccessLinkRow = Selectable<Database['access_links']>;
export type AppointmentRow = Selectable<Database['appointments']>;
export type OutboxRow = Selectable<Database['dev_outbox']>;
export type ApiKeyRow = Selectable<Database['api_keys']>;
export type SignerRow = Selectable<Database['signers']>;
export type NotificationSignatureRow = Selectable<Database['notification_signatures']>;

/**
 * Every query Sealpost runs, written once in Kysely's portable builder. An instance is bound either
 * to the pool (reads) or to one transaction (commands).
 */
export class Repositories {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly caps: BackendCapabilities,
    /** Audit entries of the enclosing transaction, written by `flushAuditEntries`; null outside one. */
    private readonly pendingAudit: PendingAudit[] | null = null,
  ) {}

  /** The Merkle log's own tables (same transaction as this instance). */
  get auditLog(): AuditLogRepository {
    return new AuditLogRepository(this.db);
  }

  /** Short-lived single-use challenges of sign-in steps (same transaction as this instance). */
  get challenges(): ChallengeRepository {
    return new ChallengeRepository(this.db);
  }

  /** Sessions of people (same transaction as this instance). */
  get sessions(): SessionRepository {
    return new SessionRepository(this.db);
  }

  /** Second factors: TOTP, recovery codes, WebAuthn credentials, challenges (same transaction as this instance). */
  get mfa(): MfaRepository {
    return new MfaRepository(this.db);
  }

  /** Care teams, break-glass grants and administrator alerts (same transaction as this instance). */
  get access(): AccessRepository {
    return new AccessRepository(this.db);
  }

  /** Patient accounts, their sign-in codes, patients' own notifications, devices (same transaction as this instance). */
  get patientAccounts(): PatientAccountRepository {
    return new PatientAccountRepository(this.db);
  }

  /** Audit search and disclosure reports (same transaction as this instance). */
  get auditQueries(): AuditQueryRepository {
    return new AuditQueryRepository(this.db);
  }

  /** Staff users, their one-time tokens and brute-force counters (same transaction as this instance). */
  get users(): UserRepository {
    return new UserRepository(this.db);
  }

  /** System clients: SMART clients, assertion ids, API-key rotation (same transaction as this instance). */
  get oauth(): OAuthRepository {
    return new OAuthRepository(this.db);
  }

  /** OIDC single sign-on: pending authorization requests and users' identity-provider links (same transaction as this instance). */
  get oidc(): OidcRepository {
    return new OidcRepository(this.db);
  }

  // --- tenants & API keys -------------------------------------------------------------------
  async ensureTenant(id: string, name: string, now: number): Promise<void> {
    await this.db.insertInto('tenants').values({ id, name, created_at: now }).onConflict((oc) => oc.column('id').doNothing()).execute();
  }

  async countApiKeys(): Promise<number> {
    const r = await this.db.selectFrom('api_keys').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  async insertApiKey(row: Insertable<Database['api_keys']>): Promise<void> {
    await this.db.insertInto('api_keys').values(row).execute();
  }

  async getApiKey(id: string): Promise<ApiKeyRow | undefined> {
    return this.db.selectFrom('api_keys').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async touchApiKey(id: string, now: number): Promise<void> {
    await this.db.updateTable('api_keys').set({ last_used_at: now }).where('id', '=', id).execute();
  }

  // --- data keys & patients -----------------------------------------------------------------
  async getDataKey(tenantId: string, patientId: string) {
    return this.db
      .selectFrom('data_keys')
      .select(['key_id', 'wrapped'])
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
  }

  async insertDataKey(row: Insertable<Database['data_keys']>): Promise<void> {
    await this.db.insertInto('data_keys').values(row).execute();
  }

  async getPatient(tenantId: string, id: string): Promise<PatientRow | undefined> {
    return this.db.selectFrom('patients').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  }

  async insertPatient(row: Insertable<Database['patients']>): Promise<void> {
    await this.db.insertInto('patients').values(row).execute();
  }

  async updatePatient(tenantId: string, id: string, set: Updateable<Database['patients']>): Promise<void> {
    await this.db.updateTable('patients').set(set).where('tenant_id', '=', tenantId).where('id', '=', id).execute();
  }

  async listContactPoints(tenantId: string, patientId: string): Promise<ContactPointRow[]> {
    return this.db
      .selectFrom('contact_points')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .orderBy('rank')
      .orderBy('id')
      .execute();
  }

  /** Bulk reads for a batch of deliveries (the worker loads a whole claim in a few queries). */
  async getNotificationsByIds(ids: string[]): Promise<NotificationRow[]> {
    return ids.length ? this.db.selectFrom('notifications').selectAll().where('id', 'in', ids).execute() : [];
  }

  async getPatientsWithKeys(tenantId: string, ids: string[]) {
    if (!ids.length) return [];
    return this.db
      .selectFrom('patients')
      .innerJoin('data_keys', (j) => j.onRef('data_keys.tenant_id', '=', 'patients.tenant_id').onRef('data_keys.patient_id', '=', 'patients.id'))
      .select(['patients.id', 'patients.language', 'patients.time_zone', 'data_keys.key_id', 'data_keys.wrapped'])
      .where('patients.tenant_id', '=', tenantId)
      .where('patients.id', 'in', ids)
      .execute();
  }

  async getContactPointsByIds(ids: string[]): Promise<ContactPointRow[]> {
    return ids.length ? this.db.selectFrom('contact_points').selectAll().where('id', 'in', ids).execute() : [];
  }

  async getAppointmentsByIds(tenantId: string, externalIds: string[]): Promise<AppointmentRow[]> {
    if (!externalIds.length) return [];
    return this.db.selectFrom('appointments').selectAll().where('tenant_id', '=', tenantId).where('external_id', 'in', externalIds).execute();
  }

  async getContactPoint(id: string): Promise<ContactPointRow | undefined> {
    return this.db.selectFrom('contact_points').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async insertContactPoint(row: Insertable<Database['contact_points']>): Promise<void> {
    await this.db.insertInto('contact_points').values(row).execute();
  }

  async updateContactPoint(id: string, set: Updateable<Database['contact_points']>): Promise<void> {
    await this.db.updateTable('contact_points').set(set).where('id', '=', id).execute();
  }

  /** Sets or clears the opt-out of every contact point of `system` whose blind index matches. */
  async setOptOutByIndex(tenantId: string, system: string, bidx: string, optedOutAt: number | null): Promise<ContactPointRow[]> {
    return this.db
      .updateTable('contact_points')
      .set({ opted_out_at: optedOutAt })
      .where('tenant_id', '=', tenantId)
      .where('system', '=', system)
      .where('value_bidx', '=', bidx)
      .returningAll()
      .execute();
  }

  async deleteContactPoints(ids: string[]): Promise<void> {
    if (ids.length) await this.db.deleteFrom('contact_points').where('id', 'in', ids).execute();
  }

  // --- notifications & deliveries ---------------------------------------------------------
  async insertNotification(row: Insertable<Database['notifications']>): Promise<void> {
    await this.db.insertInto('notifications').values(row).execute();
  }

  async getNotification(tenantId: string, id: string): Promise<NotificationRow | undefined> {
    return this.db.selectFrom('notifications').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  }

  async updateNotification(id: string, set: Updateable<Database['notifications']>): Promise<void> {
    await this.db.updateTable('notifications').set(set).where('id', '=', id).execute();
  }

  async listNotificationsForAppointment(tenantId: string, appointmentId: string): Promise<NotificationRow[]> {
    return this.db
      .selectFrom('notifications')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('appointment_id', '=', appointmentId)
      .execute();
  }

  async insertDelivery(row: Insertable<Database['deliveries']>): Promise<void> {
    await this.db.insertInto('deliveries').values(row).execute();
  }

  async listDeliveries(notificationId: string): Promise<DeliveryRow[]> {
    return this.db.selectFrom('deliveries').selectAll().where('notification_id', '=', notificationId).orderBy('seq').orderBy('id').execute();
  }

  async getDelivery(id: string): Promise<DeliveryRow | undefined> {
    return this.db.selectFrom('deliveries').selectAll().where('id', '=', id).executeTakeFirst();
  }

  async findDeliveryByProviderId(provider: string, providerMessageId: string): Promise<DeliveryRow | undefined> {
    return this.db
      .selectFrom('deliveries')
      .selectAll()
      .where('provider', '=', provider)
      .where('provider_message_id', '=', providerMessageId)
      .executeTakeFirst();
  }

  /** Updates a delivery; with `leaseOwner`, only while that worker still holds the lease. Returns rows changed. */
  async updateDelivery(id: string, set: Updateable<Database['deliveries']>, leaseOwner?: string): Promise<number> {
    let q = this.db.updateTable('deliveries').set(set).where('id', '=', id);
    if (leaseOwner) q = q.where('lease_owner', '=', leaseOwner).where('status', '=', 'sending');
    const r = await q.executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /** Moves every still-pending delivery of a notification to `cancelled`; returns their ids. */
  async cancelPendingDeliveries(notificationId: string, now: number): Promise<string[]> {
    const rows = await this.db
      .updateTable('deliveries')
      .set({ status: 'cancelled', cancelled_at: now, updated_at: now, lease_owner: null, lease_until: null })
      .where('notification_id', '=', notificationId)
      .where('status', 'in', ['scheduled', 'queued', 'sending'])
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /**
   * Claims up to `limit` due deliveries for `owner` until `leaseUntil` and counts the attempt.
   * Contract: a delivery is handed to at most one live lease at a time.
   */
  async claimDueDeliveries(owner: string, now: number, leaseUntil: number, limit: number): Promise<DeliveryRow[]> {
    let due = this.db
      .selectFrom('deliveries')
      .select('id')
      .where('status', 'in', ['scheduled', 'queued'])
      .where('run_at', '<=', now)
      .orderBy('run_at')
      .limit(limit);
    if (this.caps.skipLocked) due = due.forUpdate().skipLocked();
    return this.db
      .updateTable('deliveries')
      .set((eb) => ({
        status: 'sending',
        lease_owner: owner,
        lease_until: leaseUntil,
        attempts: eb('attempts', '+', 1),
        updated_at: now,
      }))
      .where('id', 'in', due)
      .returningAll()
      .execute();
  }

  /** Returns deliveries whose worker died (lease expired while `sending`) to the queue. */
  async releaseExpiredLeases(now: number): Promise<number> {
    const r = await this.db
      .updateTable('deliveries')
      .set({ status: 'queued', lease_owner: null, lease_until: null, updated_at: now })
      .where('status', '=', 'sending')
      .where('lease_until', '<', now)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async nextRunAt(): Promise<number | null> {
    const r = await this.db
      .selectFrom('deliveries')
      .select((eb) => eb.fn.min('run_at').as('m'))
      .where('status', 'in', ['scheduled', 'queued'])
      .executeTakeFirst();
    return r?.m == null ? null : Number(r.m);
  }

  async countDeliveriesByStatus(): Promise<{ status: string; channel: string; n: number }[]> {
    const rows = await this.db
      .selectFrom('deliveries')
      .select(['status', 'channel', (eb) => eb.fn.countAll<number>().as('n')])
      .groupBy(['status', 'channel'])
      .execute();
    return rows.map((r) => ({ status: r.status, channel: r.channel, n: Number(r.n) }));
  }

  // --- access links & portal sessions -------------------------------------------------------
  async insertAccessLink(row: Insertable<Database['access_links']>): Promise<void> {
    await this.db.insertInto('access_links').values(row).execute();
  }

  async getAccessLink(tokenHash: string): Promise<AccessLinkRow | undefined> {
    return this.db.selectFrom('access_links').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  async updateAccessLink(tokenHash: string, set: Updateable<Database['access_links']>): Promise<void> {
    await this.db.updateTable('access_links').set(set).where('token_hash', '=', tokenHash).execute();
  }

  /** Counts a wrong answer atomically and returns the new count. */
  async countFailedAttempt(tokenHash: string): Promise<number> {
    await this.db
      .updateTable('access_links')
      .set((eb) => ({ failed_attempts: eb('failed_attempts', '+', 1) }))
      .where('token_hash', '=', tokenHash)
      .execute();
    const r = await this.db.selectFrom('access_links').select('failed_attempts').where('token_hash', '=', tokenHash).executeTakeFirstOrThrow();
    return r.failed_attempts;
  }

  async insertPortalSession(row: Insertable<Database['portal_sessions']>): Promise<void> {
    await this.db.insertInto('portal_sessions').values(row).execute();
  }

  async getPortalSession(tokenHash: string) {
    return this.db.selectFrom('portal_sessions').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  }

  // --- appointments ------------------------------------------------------------------------
  async getAppointment(tenantId: string, externalId: string): Promise<AppointmentRow | undefined> {
    return this.db
      .selectFrom('appointments')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('external_id', '=', externalId)
      .executeTakeFirst();
  }

  async insertAppointment(row: Insertable<Database['appointments']>): Promise<void> {
    await this.db.insertInto('appointments').values(row).execute();
  }

  async updateAppointment(tenantId: string, externalId: string, set: Updateable<Database['appointments']>): Promise<void> {
    await this.db.updateTable('appointments').set(set).where('tenant_id', '=', tenantId).where('external_id', '=', externalId).execute();
  }

  // --- idempotency -------------------------------------------------------------------------
  async getIdempotency(tenantId: string, key: string) {
    return this.db.selectFrom('idempotency_keys').selectAll().where('tenant_id', '=', tenantId).where('key', '=', key).executeTakeFirst();
  }

  async insertIdempotency(row: Insertable<Database['idempotency_keys']>): Promise<void> {
    await this.db.insertInto('idempotency_keys').values(row).execute();
  }

  // --- audit -------------------------------------------------------------------------------
  /**
   * Appends an audit entry to this transaction. Its index is assigned at commit time by
   * `flushAuditEntries`: the counter row is then locked only for the last insert and the COMMIT, so
   * concurrent transactions (other nodes included) serialize for as short a time as possible, indexes
   * have no gaps and become visible in index order.
   */
  async appendAudit(e: AuditEvent): Promise<void> {
    if (!this.pendingAudit) throw new Error('audit entries are appended inside a transaction only');
    const { entry, leafHash } = encodeAuditEntry(e);
    this.pendingAudit.push({
      tenant_id: e.tenantId,
      at: e.at.getTime(),
      action: e.action,
      actor: e.actor,
      patient_ref: e.patientRef ?? null,
      entry,
      leaf_hash: leafHash,
    });
  }

  /** Serializes concurrent holders of `name` (across nodes) until this transaction ends. */
  async lockExclusive(name: string): Promise<void> {
    if (this.caps.advisoryLocks) await sql`select pg_advisory_xact_lock(hashtext(${name}))`.execute(this.db);
  }

  // --- leases and settings (several nodes on one database) ----------------------------------
  /**
   * Takes or renews the named lease for `owner` until `until`; true when `owner` holds it afterwards.
   * A lease held by someone else is taken over only once it has expired.
   */
  async acquireLease(name: string, owner: string, now: number, until: number): Promise<boolean> {
    await this.db.insertInto('leases').values({ name, owner, until }).onConflict((oc) => oc.column('name').doNothing()).execute();
    const r = await this.db
      .updateTable('leases')
      .set({ owner, until })
      .where('name', '=', name)
      .where((eb) => eb.or([eb('owner', '=', owner), eb('until', '<', now)]))
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async releaseLease(name: string, owner: string): Promise<void> {
    await this.db.deleteFrom('leases').where('name', '=', name).where('owner', '=', owner).execute();
  }

  async getSetting(name: string): Promise<string | undefined> {
    return (await this.db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst())?.value;
  }

  /** Stores `value` unless the setting exists; returns the stored value either way. */
  async initSetting(name: string, value: string): Promise<string> {
    await this.db.insertInto('settings').values({ name, value }).onConflict((oc) => oc.column('name').doNothing()).execute();
    return (await this.getSetting(name))!;
  }

  // --- dev outbox --------------------------------------------------------------------------
  /** Records a message once per delivery id: a retried send of the same delivery adds nothing. */
  async recordOutbox(row: Insertable<Database['dev_outbox']>): Promise<void> {
    await this.db.insertInto('dev_outbox').values(row).onConflict((oc) => oc.column('delivery_id').doNothing()).execute();
  }

  async listOutbox(tenantId: string, afterId: number, limit: number): Promise<OutboxRow[]> {
    return this.db
      .selectFrom('dev_outbox')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  // --- API keys: listing and revocation (mTLS-bound system clients) --------------------------
  /** A tenant's keys in id order, after `afterId` (cursor); the caller never gets secret hashes. */
  async listApiKeys(tenantId: string, afterId: string, limit: number): Promise<ApiKeyRow[]> {
    return this.db.selectFrom('api_keys').selectAll().where('tenant_id', '=', tenantId).where('id', '>', afterId).orderBy('id').limit(limit).execute();
  }

  /** Sets `revoked_at` once; returns false when the key does not exist for this tenant or was already revoked. */
  async revokeApiKey(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.db.updateTable('api_keys').set({ revoked_at: now }).where('tenant_id', '=', tenantId).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  // --- erasure (crypto-shredding) ----------------------------------------------------------
  // Every statement below is scoped to one tenant and patient. The order inside the erasure
  // transaction matters on PostgreSQL: cancelling the deliveries first takes their row locks, so a
  // worker creating a portal link for one of them concurrently either commits before (and its link
  // is then seen and burned by the later statements) or fails its lease check afterwards.

  async insertErasure(row: Insertable<Database['erasures']>): Promise<void> {
    await this.db.insertInto('erasures').values(row).execute();
  }

  /** The most recent erasure of this patient id, if any. */
  async latestErasure(tenantId: string, patientId: string) {
    return this.db
      .selectFrom('erasures')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .orderBy('erased_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
  }

  async listPendingErasures() {
    return this.db.selectFrom('erasures').selectAll().where('shredding', '=', 'pending').orderBy('erased_at').execute();
  }

  /** Marks the given pending erasures of the tenant complete (one rotation covers all erasures committed before it began). */
  async completeErasures(tenantId: string, ids: string[], now: number): Promise<string[]> {
    if (!ids.length) return [];
    const rows = await this.db
      .updateTable('erasures')
      .set({ shredding: 'complete', completed_at: now })
      .where('tenant_id', '=', tenantId)
      .where('shredding', '=', 'pending')
      .where('id', 'in', ids)
      .returning('id')
      .execute();
    return rows.map((r) => r.id);
  }

  /** Cancels the patient's pending deliveries (a worker holding one loses its lease); returns their ids. */
  async cancelPatientDeliveries(tenantId: string, patientId: string, now: number, code: string): Promise<{ id: string; notification_id: string }[]> {
    return this.db
      .updateTable('deliveries')
      .set({ status: 'cancelled', cancelled_at: now, updated_at: now, lease_owner: null, lease_until: null, last_error_code: code })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('status', 'in', ['scheduled', 'queued', 'sending'])
      .returning(['id', 'notification_id'])
      .execute();
  }

  /**
   * Empties the content of the patient's notifications and deliveries, keeping the rows as
   * tombstones (ids, type, times, statuses). A zero-length `data_ct` marks an erased notification.
   */
  async stripPatientContent(tenantId: string, patientId: string, cancelledNotifications: string[], now: number): Promise<{ notifications: string[]; deliveries: string[] }> {
    const empty = new Uint8Array(0);
    const notifications = await this.db
      .updateTable('notifications')
      .set({ data_ct: empty })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .returning('id')
      .execute();
    for (let i = 0; i < cancelledNotifications.length; i += 500) {
      await this.db
        .updateTable('notifications')
        .set({ cancelled_at: now })
        .where('id', 'in', cancelledNotifications.slice(i, i + 500))
        .where('cancelled_at', 'is', null)
        .execute();
    }
    const deliveries = await this.db
      .updateTable('deliveries')
      .set({ link_ct: null })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .returning('id')
      .execute();
    return { notifications: notifications.map((r) => r.id), deliveries: deliveries.map((r) => r.id) };
  }

  /**
   * Burns the patient's portal links (kept as tombstones: a token hash and ids, so the portal can
   * say "no longer available") and deletes their sessions. Returns how many links were burned.
   */
  async burnPatientLinks(tenantId: string, patientId: string, now: number): Promise<number> {
    const links = this.db.selectFrom('access_links').select('token_hash').where('tenant_id', '=', tenantId).where('patient_id', '=', patientId);
    await this.db.deleteFrom('portal_sessions').where('link_hash', 'in', links).execute();
    const r = await this.db
      .updateTable('access_links')
      .set((eb) => ({ burned_at: eb.fn.coalesce('burned_at', eb.val(now)), otp_hash: null, otp_expires_at: null }))
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  /**
   * Deletes the idempotency records of the given notifications. Their `request_hash` is a keyed
   * fingerprint of the request (PHI included), so it would let a holder of the key confirm guesses.
   * The stored answer is `JSON.stringify({ id, ... })`, so it starts with the notification id.
   */
  async deleteIdempotencyForNotifications(tenantId: string, notificationIds: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < notificationIds.length; i += 200) {
      const ids = notificationIds.slice(i, i + 200);
      const r = await this.db
        .deleteFrom('idempotency_keys')
        .where('tenant_id', '=', tenantId)
        .where((eb) => eb.or(ids.map((id) => eb('response', 'like', `{"id":"${id.replace(/[%_\\]/g, '')}",%`))))
        .executeTakeFirst();
      n += Number(r.numDeletedRows);
    }
    return n;
  }

  /**
   * Deletes the dev-outbox copies of the given deliveries and of the one-time codes sent for their
   * links (`otp-<delivery id>-…`): sealed under a key erasure does not destroy.
   */
  async deleteOutboxForDeliveries(deliveryIds: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < deliveryIds.length; i += 200) {
      const ids = deliveryIds.slice(i, i + 200);
      const r = await this.db
        .deleteFrom('dev_outbox')
        .where((eb) => eb.or([eb('delivery_id', 'in', ids), ...ids.map((id) => eb('delivery_id', 'like', `otp-${id.replace(/[%_\\]/g, '')}-%`))]))
        .executeTakeFirst();
      n += Number(r.numDeletedRows);
    }
    return n;
  }

  /**
   * After a worker lost its lease: deletes the outbox copy it may just have written for a delivery
   * that an erasure cancelled meanwhile (the send raced the erasure; no copy may outlive it).
   */
  async deleteOutboxOfErasedDelivery(deliveryId: string, erasedCode: string): Promise<number> {
    const erased = this.db.selectFrom('deliveries').select('id').where('id', '=', deliveryId).where('last_error_code', '=', erasedCode);
    const r = await this.db.deleteFrom('dev_outbox').where('delivery_id', 'in', erased).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Deletes the patient's appointments (their payload is PHI; reminders keep `appointment_id` as a plain reference). */
  async deletePatientAppointments(tenantId: string, patientId: string): Promise<number> {
    const r = await this.db.deleteFrom('appointments').where('tenant_id', '=', tenantId).where('patient_id', '=', patientId).executeTakeFirst();
    return Number(r.numDeletedRows);
  }

  /** Deletes contact points (ciphertext and blind indexes), the patient row and, last, the wrapped data key. */
  async deletePatientAndKey(tenantId: string, patientId: string): Promise<{ contactPoints: number; dataKeys: number }> {
    const c = await this.db.deleteFrom('contact_points').where('tenant_id', '=', tenantId).where('patient_id', '=', patientId).executeTakeFirst();
    await this.db.deleteFrom('patients').where('tenant_id', '=', tenantId).where('id', '=', patientId).execute();
    const k = await this.db.deleteFrom('data_keys').where('tenant_id', '=', tenantId).where('patient_id', '=', patientId).executeTakeFirst();
    return { contactPoints: Number(c.numDeletedRows), dataKeys: Number(k.numDeletedRows) };
  }

  /**
   * SQLite only (the caller checks the backend): turns on secure_delete for this connection, so the
   * cells and pages the erasure frees are overwritten with zeros instead of lingering in free space.
   */
  async sqliteSecureDelete(): Promise<void> {
    await sql`pragma secure_delete = on`.execute(this.db);
  }

  // --- signatures (non-repudiation) ----------------------------------------------------------
  async insertSigner(row: SignerRow): Promise<void> {
    await this.db.insertInto('signers').values(row).execute();
  }

  async getSigner(tenantId: string, id: string): Promise<SignerRow | undefined> {
    return this.db.selectFrom('signers').selectAll().where('tenant_id', '=', tenantId).where('id', '=', id).executeTakeFirst();
  }

  async findSignerByThumbprint(tenantId: string, thumbprint: string): Promise<SignerRow | undefined> {
    return this.db.selectFrom('signers').selectAll().where('tenant_id', '=', tenantId).where('thumbprint', '=', thumbprint).executeTakeFirst();
  }

  /** Marks a signer revoked (first time only); returns whether this call revoked it. */
  async revokeSigner(tenantId: string, id: string, now: number): Promise<boolean> {
    const r = await this.db
      .updateTable('signers')
      .set({ revoked_at: now })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async insertNotificationSignature(row: NotificationSignatureRow): Promise<void> {
    await this.db.insertInto('notification_signatures').values(row).execute();
  }

  async getNotificationSignature(tenantId: string, notificationId: string): Promise<NotificationSignatureRow | undefined> {
    return this.db
      .selectFrom('notification_signatures')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('notification_id', '=', notificationId)
      .executeTakeFirst();
  }

  /** The notification already created from this signer's identical signed request, if any. */
  async findSignedRequest(tenantId: string, signerId: string, requestBidx: string): Promise<string | undefined> {
    const r = await this.db
      .selectFrom('notification_signatures')
      .select('notification_id')
      .where('tenant_id', '=', tenantId)
      .where('sender_signer_id', '=', signerId)
      .where('sender_request_bidx', '=', requestBidx)
      .executeTakeFirst();
    return r?.notification_id;
  }

  // --- key rotation (src/crypto/key-rotation.ts) -------------------------------------------
  /** Data keys of `tenantId` not wrapped by `keyId`, in patient-id order after `afterPatientId`. */
  async listDataKeysNotUnder(tenantId: string, keyId: string, afterPatientId: string, limit: number) {
    return this.db
      .selectFrom('data_keys')
      .select(['patient_id', 'key_id', 'wrapped'])
      .where('tenant_id', '=', tenantId)
      .where('key_id', '!=', keyId)
      .where('patient_id', '>', afterPatientId)
      .orderBy('patient_id')
      .limit(limit)
      .execute();
  }

  /** Number of data keys of `tenantId` not wrapped by `keyId` (rotation progress). */
  async countDataKeysNotUnder(tenantId: string, keyId: string): Promise<number> {
    const r = await this.db.selectFrom('data_keys').select((eb) => eb.fn.countAll<number>().as('n')).where('tenant_id', '=', tenantId).where('key_id', '!=', keyId).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Replaces a wrapped data key only if it is still wrapped by `fromKeyId` (a concurrent erasure wins); true if replaced. */
  async rewrapDataKey(tenantId: string, patientId: string, fromKeyId: string, toKeyId: string, wrapped: Uint8Array): Promise<boolean> {
    const r = await this.db
      .updateTable('data_keys')
      .set({ key_id: toKeyId, wrapped })
      .where('tenant_id', '=', tenantId)
      .where('patient_id', '=', patientId)
      .where('key_id', '=', fromKeyId)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  /** Number of data keys (any tenant) wrapped by `keyId`. */
  async countDataKeysUsing(keyId: string): Promise<number> {
    const r = await this.db.selectFrom('data_keys').select((eb) => eb.fn.countAll<number>().as('n')).where('key_id', '=', keyId).executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /**
   * Contact points whose blind index is not in the stored form of version `version` (version 1 is bare
   * hex, version n is `v<n>:<hex>`; hex never starts with "v"), in id order after `afterId`.
   */
  async listContactIndexesNotAt(version: number, afterId: string, limit: number) {
    return this.db
      .selectFrom('contact_points')
      .select(['id', 'tenant_id', 'patient_id', 'system', 'value_ct', 'value_bidx'])
      .where('value_bidx', ...indexForm(version, false))
      .where('id', '>', afterId)
      .orderBy('id')
      .limit(limit)
      .execute();
  }

  /** Number of contact points whose blind index is in the stored form of `version` (or, with `not`, any other). */
  async countContactIndexes(version: number, not = false): Promise<number> {
    const r = await this.db
      .selectFrom('contact_points')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('value_bidx', ...indexForm(version, !not))
      .executeTakeFirstOrThrow();
    return Number(r.n);
  }

  /** Replaces a contact point's blind index only if it is still `from`; true if replaced. */
  async setContactIndex(id: string, from: string, to: string): Promise<boolean> {
    const r = await this.db.updateTable('contact_points').set({ value_bidx: to }).where('id', '=', id).where('value_bidx', '=', from).executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }

  async listTenantIds(): Promise<string[]> {
    return (await this.db.selectFrom('tenants').select('id').orderBy('id').execute()).map((r) => r.id);
  }
}

