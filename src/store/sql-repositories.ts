import type { StoreTx } from './store.js';
import type { Sql } from './sql.js';
import type { PendingAudit } from './audit-sequencing.js';
import { SqlTenantRepository } from './repositories/tenant-repository.js';
import { SqlApiKeyRepository } from './repositories/api-key-repository.js';
import { SqlPatientRepository } from './repositories/patient-repository.js';
import { SqlDataKeyRepository } from './repositories/data-key-repository.js';
import { SqlContactPointRepository } from './repositories/contact-point-repository.js';
import { SqlPatientIdentifierRepository } from './repositories/patient-identifier-repository.js';
import { SqlNotificationRepository } from './repositories/notification-repository.js';
import { SqlDeliveryRepository } from './repositories/delivery-repository.js';
import { SqlAccessLinkRepository } from './repositories/access-link-repository.js';
import { SqlAppointmentRepository } from './repositories/appointment-repository.js';
import { SqlIdempotencyRepository } from './repositories/idempotency-repository.js';
import { PendingAuditRepository } from './repositories/audit-repository.js';
import { SqlSignerRepository } from './repositories/signer-repository.js';
import { SqlOutboxRepository } from './repositories/outbox-repository.js';
import { SqlErasureRepository } from './repositories/erasure-repository.js';
import { SqlLeaseRepository } from './repositories/lease-repository.js';
import { SqlSettingRepository } from './repositories/setting-repository.js';
import { SqlJobQueue } from '../queue/sql-job-queue.js';
import { SqlBlindIndexRepository } from './repositories/blind-index-repository.js';
import { NO_COMMIT, type CommitBuffer } from './repositories/commit-buffer.js';
import { SqlAuditLogRepository } from './repositories/audit-log-repository.js';
import { SqlAuditQueryRepository } from './repositories/audit-query-repository.js';
import { SqlChallengeRepository } from './repositories/challenge-repository.js';
import { SqlSessionRepository } from './repositories/session-repository.js';
import { SqlMfaRepository } from './repositories/mfa-repository.js';
import { SqlAccessRepository } from './repositories/access-repository.js';
import { SqlPatientAccountRepository } from './repositories/patient-account-repository.js';
import { SqlUserRepository } from './repositories/user-repository.js';
import { SqlOAuthRepository } from './repositories/oauth-repository.js';
import { SqlOidcRepository } from './repositories/oidc-repository.js';
import { SqlFhirSubscriptionRepository } from './repositories/fhir-subscription-repository.js';
import { SqlHl7SenderRepository } from './repositories/hl7-sender-repository.js';
import { SqlHl7MessageRepository } from './repositories/hl7-message-repository.js';
import { SqlConsentRepository } from './repositories/consent-repository.js';
import { SqlAlertNotificationRepository } from './repositories/alert-notification-repository.js';
import { SqlAlertRepository } from './repositories/alert-repository.js';
import { SqlNotificationIdentifierRepository } from './repositories/notification-identifier-repository.js';
import { SqlOnCallRepository } from './repositories/on-call-repository.js';
import { SqlMessagingDeviceRepository } from './repositories/messaging-device-repository.js';
import { SqlMedicalDeviceRepository } from './repositories/medical-device-repository.js';
import { SqlConversationRepository } from './repositories/conversation-repository.js';
import { SqlConversationEventRepository } from './repositories/conversation-event-repository.js';
import { SqlMessagingPolicyRepository } from './repositories/messaging-policy-repository.js';
import { SqlAttachmentRepository } from './repositories/attachment-repository.js';
import { SqlPreferenceRepository, SqlSendLedgerRepository } from './repositories/preference-repository.js';
import { SqlPatientReplyRepository } from './repositories/patient-reply-repository.js';
import { SqlBrandingRepository } from './repositories/branding-repository.js';
import { SqlPrivacyRepository } from './repositories/privacy-repository.js';

/**
 * The store's repositories over one `Sql` (the pool, or one transaction). Each is made on first use
 * and kept, so a command pays only for the repositories it touches.
 */
export class SqlRepositories implements StoreTx {
  private readonly made = new Map<string, unknown>();

  constructor(
    private readonly sql: Sql,
    /** The enclosing transaction's audit entries (written just before its COMMIT); null outside a transaction. */
    private readonly pendingAudit: PendingAudit[] | null = null,
    /** Where a batchable command's new rows go (NO_COMMIT outside a transaction). */
    readonly atCommit: CommitBuffer = NO_COMMIT,
  ) {}

  private once<T>(name: string, make: () => T): T {
    let r = this.made.get(name) as T | undefined;
    if (r === undefined) {
      r = make();
      this.made.set(name, r);
    }
    return r;
  }

  get tenants() {
    return this.once('tenants', () => new SqlTenantRepository(this.sql));
  }
  get apiKeys() {
    return this.once('apiKeys', () => new SqlApiKeyRepository(this.sql));
  }
  get patients() {
    return this.once('patients', () => new SqlPatientRepository(this.sql));
  }
  get dataKeys() {
    return this.once('dataKeys', () => new SqlDataKeyRepository(this.sql));
  }
  get contactPoints() {
    return this.once('contactPoints', () => new SqlContactPointRepository(this.sql));
  }
  get patientIdentifiers() {
    return this.once('patientIdentifiers', () => new SqlPatientIdentifierRepository(this.sql));
  }
  get notifications() {
    return this.once('notifications', () => new SqlNotificationRepository(this.sql));
  }
  get deliveries() {
    return this.once('deliveries', () => new SqlDeliveryRepository(this.sql));
  }
  get queue() {
    return this.once('queue', () => new SqlJobQueue(this.sql));
  }
  get accessLinks() {
    return this.once('accessLinks', () => new SqlAccessLinkRepository(this.sql));
  }
  get appointments() {
    return this.once('appointments', () => new SqlAppointmentRepository(this.sql));
  }
  get idempotency() {
    return this.once('idempotency', () => new SqlIdempotencyRepository(this.sql));
  }
  get audit() {
    return this.once('audit', () => new PendingAuditRepository(this.pendingAudit));
  }
  get signers() {
    return this.once('signers', () => new SqlSignerRepository(this.sql));
  }
  get outbox() {
    return this.once('outbox', () => new SqlOutboxRepository(this.sql));
  }
  get erasures() {
    return this.once('erasures', () => new SqlErasureRepository(this.sql));
  }
  get leases() {
    return this.once('leases', () => new SqlLeaseRepository(this.sql));
  }
  get settings() {
    return this.once('settings', () => new SqlSettingRepository(this.sql));
  }
  get blindIndexes() {
    return this.once('blindIndexes', () => new SqlBlindIndexRepository(this.sql));
  }
  get auditLog() {
    return this.once('auditLog', () => new SqlAuditLogRepository(this.sql.db));
  }
  get auditQueries() {
    return this.once('auditQueries', () => new SqlAuditQueryRepository(this.sql.db));
  }
  get challenges() {
    return this.once('challenges', () => new SqlChallengeRepository(this.sql.db));
  }
  get sessions() {
    return this.once('sessions', () => new SqlSessionRepository(this.sql.db));
  }
  get mfa() {
    return this.once('mfa', () => new SqlMfaRepository(this.sql.db));
  }
  get access() {
    return this.once('access', () => new SqlAccessRepository(this.sql.db));
  }
  get patientAccounts() {
    return this.once('patientAccounts', () => new SqlPatientAccountRepository(this.sql.db));
  }
  get users() {
    return this.once('users', () => new SqlUserRepository(this.sql.db));
  }
  get oauth() {
    return this.once('oauth', () => new SqlOAuthRepository(this.sql.db));
  }
  get oidc() {
    return this.once('oidc', () => new SqlOidcRepository(this.sql.db));
  }
  get fhirSubscriptions() {
    return this.once('fhirSubscriptions', () => new SqlFhirSubscriptionRepository(this.sql));
  }
  get hl7Senders() {
    return this.once('hl7Senders', () => new SqlHl7SenderRepository(this.sql));
  }
  get hl7Messages() {
    return this.once('hl7Messages', () => new SqlHl7MessageRepository(this.sql));
  }
  get consents() {
    return this.once('consents', () => new SqlConsentRepository(this.sql));
  }
  get alertNotifications() {
    return this.once('alertNotifications', () => new SqlAlertNotificationRepository(this.sql));
  }
  get alerts() {
    return this.once('alerts', () => new SqlAlertRepository(this.sql));
  }
  get patientReplies() {
    return this.once('patientReplies', () => new SqlPatientReplyRepository(this.sql));
  }
  get branding() {
    return this.once('branding', () => new SqlBrandingRepository(this.sql));
  }
  get privacy() {
    return this.once('privacy', () => new SqlPrivacyRepository(this.sql.db));
  }
  get notificationIdentifiers() {
    return this.once('notificationIdentifiers', () => new SqlNotificationIdentifierRepository(this.sql));
  }
  get onCall() {
    return this.once('onCall', () => new SqlOnCallRepository(this.sql.db));
  }
  get medicalDevices() {
    return this.once('medicalDevices', () => new SqlMedicalDeviceRepository(this.sql));
  }
  get conversations() {
    return this.once('conversations', () => new SqlConversationRepository(this.sql));
  }
  get conversationEvents() {
    return this.once('conversationEvents', () => new SqlConversationEventRepository(this.sql));
  }
  get messagingPolicies() {
    return this.once('messagingPolicies', () => new SqlMessagingPolicyRepository(this.sql));
  }
  get messagingDevices() {
    return this.once('messagingDevices', () => new SqlMessagingDeviceRepository(this.sql));
  }
  get attachments() {
    return this.once('attachments', () => new SqlAttachmentRepository(this.sql));
  }
  get preferences() {
    return this.once('preferences', () => new SqlPreferenceRepository(this.sql));
  }
  get sendLedger() {
    return this.once('sendLedger', () => new SqlSendLedgerRepository(this.sql));
  }
}
