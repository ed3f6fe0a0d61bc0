/** Row types of the store's tables, as the repositories return them. */
export type { ApiKeyRow } from './repositories/api-key-repository.js';
export type { PatientRow, PatientWithKey, SendingContext } from './repositories/patient-repository.js';
export type { ContactPointRow } from './repositories/contact-point-repository.js';
export type { PatientIdentifierRow } from './repositories/patient-identifier-repository.js';
export type { NotificationRow } from './repositories/notification-repository.js';
export type { DeliveryRow } from './repositories/delivery-repository.js';
export type { AccessLinkRow, PortalSessionRow } from './repositories/access-link-repository.js';
export type { AppointmentRow } from './repositories/appointment-repository.js';
export type { IdempotencyRow } from './repositories/idempotency-repository.js';
export type { SignerRow, NotificationSignatureRow } from './repositories/signer-repository.js';
export type { OutboxRow } from './repositories/outbox-repository.js';
export type { ErasureRow } from './repositories/erasure-repository.js';
export type { Hl7SenderRow } from './repositories/hl7-sender-repository.js';
export type { Hl7MessageRow, Hl7MessageSummary } from './repositories/hl7-message-repository.js';
