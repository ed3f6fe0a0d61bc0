import type { TenantRepository } from './repositories/tenant-repository.js';
import type { ApiKeyRepository } from './repositories/api-key-repository.js';
import type { PatientRepository } from './repositories/patient-repository.js';
import type { DataKeyRepository } from './repositories/data-key-repository.js';
import type { ContactPointRepository } from './repositories/contact-point-repository.js';
import type { PatientIdentifierRepository } from './repositories/patient-identifier-repository.js';
import type { NotificationRepository } from './repositories/notification-repository.js';
import type { DeliveryRepository } from './repositories/delivery-repository.js';
import type { AccessLinkRepository } from './repositories/access-link-repository.js';
import type { AppointmentRepository } from './repositories/appointment-repository.js';
import type { IdempotencyRepository } from './repositories/idempotency-repository.js';
import type { AuditRepository } from './repositories/audit-repository.js';
import type { SignerRepository } from './repositories/signer-repository.js';
import type { OutboxRepository } from './repositories/outbox-repository.js';
import type { ErasureRepository } from './repositories/erasure-repository.js';
import type { LeaseRepository } from './repositories/lease-repository.js';
import type { SettingRepository } from './repositories/setting-repository.js';
import type { JobQueue } from '../queue/job-queue.js';
import type { CommitBuffer } from './repositories/commit-buffer.js';
import type { BlindIndexRepository } from './repositories/blind-index-repository.js';
import type { AuditLogRepository } from './repositories/audit-log-repository.js';
import type { AuditQueryRepository } from './repositories/audit-query-repository.js';
import type { ChallengeRepository } from './repositories/challenge-repository.js';
import type { SessionRepository } from './repositories/session-repository.js';
import type { MfaRepository } from './repositories/mfa-repository.js';
import type { AccessRepository } from './repositories/access-repository.js';
import type { PatientAccountRepository } from './repositories/patient-account-repository.js';
import type { UserRepository } from './repositories/user-repository.js';
import type { OAuthRepository } from './repositories/oauth-repository.js';
import type { OidcRepository } from './repositories/oidc-repository.js';
import type { FhirSubscriptionRepository } from './repositories/fhir-subscription-repository.js';
import type { Hl7SenderRepository } from './repositories/hl7-sender-repository.js';
import type { Hl7MessageRepository } from './repositories/hl7-message-repository.js';
import type { ConsentRepository } from './repositories/consent-repository.js';
import type { AlertNotificationRepository } from './repositories/alert-notification-repository.js';
import type { AlertRepository } from './repositories/alert-repository.js';
import type { NotificationIdentifierRepository } from './repositories/notification-identifier-repository.js';
import type { OnCallRepository } from './repositories/on-call-repository.js';
import type { MessagingDeviceRepository } from './repositories/messaging-device-repository.js';
import type { MedicalDeviceRepository } from './repositories/medical-device-repository.js';
import type { ConversationRepository } from './repositories/conversation-repository.js';
import type { ConversationEventRepository } from './repositories/conversation-event-repository.js';
import type { MessagingPolicyRepository } from './repositories/messaging-policy-repository.js';
import type { AttachmentRepository } from './repositories/attachment-repository.js';
import type { PreferenceRepository, SendLedgerRepository } from './repositories/preference-repository.js';
import type { PatientReplyRepository } from './repositories/patient-reply-repository.js';
import type { BrandingRepository } from './repositories/branding-repository.js';
import type { PrivacyRepository } from './repositories/privacy-repository.js';

/**
 * The repositories core may use, bound to one transaction (`store.transaction`) or to the pool
 * (`store.read`). Each member is a port with its contract in its own module.
 */
export interface StoreTx {
  readonly tenants: TenantRepository;
  readonly apiKeys: ApiKeyRepository;
  readonly patients: PatientRepository;
  readonly dataKeys: DataKeyRepository;
  readonly contactPoints: ContactPointRepository;
  /** Patient identifiers (MRNs…): sealed values, blind-index lookup, erasure tombstones. */
  readonly patientIdentifiers: PatientIdentifierRepository;
  readonly notifications: NotificationRepository;
  readonly deliveries: DeliveryRepository;
  /** Deliveries as jobs: claim with lease, outcomes, lease recovery (src/queue). */
  readonly queue: JobQueue;
  readonly accessLinks: AccessLinkRepository;
  readonly appointments: AppointmentRepository;
  readonly idempotency: IdempotencyRepository;
  readonly audit: AuditRepository;
  readonly signers: SignerRepository;
  readonly outbox: OutboxRepository;
  readonly erasures: ErasureRepository;
  readonly leases: LeaseRepository;
  readonly settings: SettingRepository;
  /** Re-indexing of blind indexes after a key rotation (contact points, patient accounts). */
  readonly blindIndexes: BlindIndexRepository;
  /** New rows a batchable command hands to the shared COMMIT (see `TransactionOptions.batchable`). */
  readonly atCommit: CommitBuffer;
  /** The Merkle log's own tables. */
  readonly auditLog: AuditLogRepository;
  /** Audit search and disclosure reports. */
  readonly auditQueries: AuditQueryRepository;
  /** Short-lived single-use challenges of sign-in steps. */
  readonly challenges: ChallengeRepository;
  /** Sessions of people. */
  readonly sessions: SessionRepository;
  /** Second factors: TOTP, recovery codes, WebAuthn credentials. */
  readonly mfa: MfaRepository;
  /** Care teams, break-glass grants and administrator alerts. */
  readonly access: AccessRepository;
  /** Patient accounts, their sign-in codes, patients' own notifications, devices. */
  readonly patientAccounts: PatientAccountRepository;
  /** Staff users, their one-time tokens and brute-force counters. */
  readonly users: UserRepository;
  /** System clients: SMART clients, assertion ids, API-key rotation. */
  readonly oauth: OAuthRepository;
  /** OIDC single sign-on: pending authorization requests and identity-provider links. */
  readonly oidc: OidcRepository;
  /** FHIR Subscriptions and their undelivered events (the rest-hook worker's queue). */
  readonly fhirSubscriptions: FhirSubscriptionRepository;
  /** HL7 v2 senders (MSH-3/MSH-4, tenant, identifier and time-zone rules). */
  readonly hl7Senders: Hl7SenderRepository;
  /** HL7 v2 messages (sealed), their outcomes, the error queue and announced result orders. */
  readonly hl7Messages: Hl7MessageRepository;
  /** The consent ledger: patients' permit/deny decisions per channel. */
  readonly consents: ConsentRepository;
  /** Clinical alert nudges (the dispatcher's leased queue), staff contact methods and alert settings. */
  readonly alertNotifications: AlertNotificationRepository;
  /** Clinical alerts, their timers, timeline and escalation policies. */
  readonly alerts: AlertRepository;
  /** CommunicationRequest identifiers of notifications (blind-indexed). */
  readonly notificationIdentifiers: NotificationIdentifierRepository;
  /** Clinical alerting's directory: on-call schedules, overrides, staff groups, unit roles. */
  readonly onCall: OnCallRepository;
  /** Medical devices (MQTT alarms) and the alarm ids they sent. */
  readonly medicalDevices: MedicalDeviceRepository;
  /** End-to-end encrypted conversations: rosters, member devices and their windows. */
  readonly conversations: ConversationRepository;
  /** The ordered event log of conversations (ciphertext only). */
  readonly conversationEvents: ConversationEventRepository;
  /** Tenants' messaging policies and MLS external sender keys. */
  readonly messagingPolicies: MessagingPolicyRepository;
  /** MLS bindings of messaging devices and their key packages. */
  readonly messagingDevices: MessagingDeviceRepository;
  /** Encrypted message attachments (opaque ciphertext) and their links to messages. */
  readonly attachments: AttachmentRepository;
  /** Patients' delivery preferences (channel per type, language, quiet hours, no texts after). */
  readonly preferences: PreferenceRepository;
  /** Routine deliveries let go out: frequency caps, deduplication, digests. */
  readonly sendLedger: SendLedgerRepository;
  /** Two-way SMS replies: questions by blind index, sealed inbound texts, reply codes, EHR event webhook queue. */
  readonly patientReplies: PatientReplyRepository;
  /** Per-tenant branding: organisation name, accent colour, logo. */
  readonly branding: BrandingRepository;
  /** Privacy monitoring: alerts from the audit stream, notes, suppressions, sensitive patients, the monitor's progress. */
  readonly privacy: PrivacyRepository;
}

/**
 * The Store port. A backend (SQLite, PostgreSQL) provides the connection, migrations and durability;
 * every query lives in the backend-neutral repositories.
 */
export interface Store {
  readonly backend: 'sqlite' | 'postgres';
  /**
   * Runs `fn` in one database transaction: everything it wrote commits together or, if it throws,
   * not at all. Resolving does not yet mean "on disk": await `durable()` before answering 2xx.
   * A single-writer backend may run several callers' `fn`s inside one database transaction, each in
   * its own savepoint; so `fn` must use only the `tx` it is given (never `read`, never a nested
   * `transaction`), which would wait for the connection it already holds.
   */
  transaction<T>(fn: (tx: StoreTx) => Promise<T>, opts?: TransactionOptions): Promise<T>;
  /** Repositories outside any transaction, for reads and single-statement writes. */
  readonly read: StoreTx;
  /**
   * Runs `fn` holding the shared send locks of `keys` (`tenant/patient`): a sender re-checks consent
   * and calls its channel inside, so a revocation (`revocationTransaction`) of one of these patients
   * waits until the calls are done, and every later send sees it committed. `fn` only reads, with
   * the repositories it is given (PostgreSQL: a transaction holding advisory locks; SQLite: `read`
   * under in-process locks, one node).
   */
  sendLocked<T>(keys: readonly string[], fn: (read: StoreTx) => Promise<T>): Promise<T>;
  /** `transaction(fn)` holding the exclusive send locks of `keys` (`tenant/patient`) until it has committed. */
  revocationTransaction<T>(keys: readonly string[], fn: (tx: StoreTx) => Promise<T>): Promise<T>;
  /**
   * Resolves once every transaction that committed before the call is durable on disk. Backends with
   * synchronous commits resolve at once; the SQLite group-commit mode batches one fsync for many callers.
   */
  durable(): Promise<void>;
  /** Applies pending migrations; returns the names applied. */
  migrate(): Promise<string[]>;
  /** Rejects when the database cannot answer a trivial query. */
  ping(): Promise<void>;
  close(): Promise<void>;
  /**
   * Wakes idle workers on every node when a delivery becomes due now (PostgreSQL LISTEN/NOTIFY).
   * Absent on single-node backends, where the local worker is woken directly.
   */
  readonly dueSignal?: DueSignal;
  /**
   * Carries short id-only payloads to every other node (live message delivery; PostgreSQL
   * LISTEN/NOTIFY). Absent on single-node backends, where the caller delivers in-process.
   */
  readonly feedSignal?: FeedSignal;
}

export interface TransactionOptions {
  /**
   * The command writes its new rows through `tx.atCommit` and reads no table another batchable
   * command hands rows to (notifications, their signatures, deliveries): consecutive batchable
   * commands sharing one transaction then insert their rows together, one statement per table.
   */
  batchable?: boolean;
}

export interface DueSignal {
  /** Tells every node's worker that something is due now (sent after the caller's commit). */
  announce(): void;
  /** Calls `fn` when another node announced; returns the unsubscribe function. */
  subscribe(fn: () => void): () => void;
  close(): Promise<void>;
}

export interface FeedSignal {
  /**
   * Sends `payload` (ids only: every database session can see it; at most a few kilobytes) to the
   * other nodes. Call after the commit of what it announces; never throws on a lost connection
   * (the receivers re-sync when they reconnect).
   */
  publish(payload: string): void;
  /**
   * Calls `fn(payload)` for each payload another node published, and `fn(null)` after the listener
   * (re)connected, when some may have been missed; returns the unsubscribe function.
   */
  subscribe(fn: (payload: string | null) => void): () => void;
  close(): Promise<void>;
}
