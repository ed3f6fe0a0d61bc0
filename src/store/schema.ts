import type { Generated } from 'kysely';

/**
 * Table types shared by every backend. Times are integer milliseconds since the epoch (UTC);
 * PHI columns end in `_ct` and hold AES-256-GCM ciphertext; `_bidx` columns hold keyed blind indexes.
 */
export interface Database {
  tenants: { id: string; name: string; created_at: number };
  api_keys: {
    id: string;
    tenant_id: string;
    name: string;
    secret_hash: string;
    scopes: string;
    created_at: number;
    expires_at: number | null;
    revoked_at: number | null;
    last_used_at: number | null;
    /** mTLS binding (migration 007): SHA-256 of one client certificate, or an issuing CA (PEM). */
    client_cert_sha256: string | null;
    client_ca_pem: string | null;
    /** The key this one replaced (migration 008); the predecessor expires after a grace period. */
    rotated_from: string | null;
  };
  data_keys: { tenant_id: string; patient_id: string; key_id: string; wrapped: Uint8Array; created_at: number };
  patients: {
    tenant_id: string;
    id: string;
    pseudonym: string;
    name_ct: Uint8Array;
    birth_date_ct: Uint8Array;
    language: string;
    time_zone: string;
    request_hash: string;
    created_at: number;
    updated_at: number;
    /** Set when a merge (HL7 A40) retired this patient: the surviving patient's id (migration 011). */
    merged_into: string | null;
    merged_at: number | null;
  };
  /** Patient identifiers (migration 011): system clear, value sealed, found by `lookup_bidx`. */
  patient_identifiers: {
    id: string;
    tenant_id: string;
    patient_id: string;
    system: string;
    /** Null once the patient was erased (the row is then a tombstone). */
    value_ct: Uint8Array | null;
    lookup_bidx: string;
    rank: number;
    created_at: number;
    erased_at: number | null;
  };
  contact_points: {
    id: string;
    tenant_id: string;
    patient_id: string;
    system: string;
    value_ct: Uint8Array;
    value_bidx: string;
    rank: number;
    opted_out_at: number | null;
  };
  notifications: {
    id: string;
    tenant_id: string;
    patient_id: string;
    type: string;
    priority: string;
    data_ct: Uint8Array;
    appointment_id: string | null;
    send_at: number;
    created_at: number;
    cancelled_at: number | null;
    acknowledged_at: number | null;
  };
  deliveries: {
    id: string;
    tenant_id: string;
    notification_id: string;
    patient_id: string;
    channel: string;
    contact_point_id: string;
    seq: number;
    status: string;
    priority: string;
    run_at: number;
    attempts: number;
    max_attempts: number;
    lease_owner: string | null;
    lease_until: number | null;
    last_error_code: string | null;
    provider: string | null;
    provider_message_id: string | null;
    link_ct: Uint8Array | null;
    created_at: number;
    updated_at: number;
    sent_at: number | null;
    delivered_at: number | null;
    read_at: number | null;
    failed_at: number | null;
    cancelled_at: number | null;
  };
  access_links: {
    token_hash: string;
    tenant_id: string;
    notification_id: string;
    delivery_id: string;
    patient_id: string;
    expires_at: number;
    failed_attempts: number;
    burned_at: number | null;
    /** Set by the first successful verification: the link is single-use, the session it opened is not. */
    used_at: number | null;
    otp_hash: string | null;
    otp_expires_at: number | null;
    created_at: number;
  };
  portal_sessions: {
    token_hash: string;
    link_hash: string;
    tenant_id: string;
    notification_id: string;
    expires_at: number;
    created_at: number;
  };
  appointments: {
    tenant_id: string;
    external_id: string;
    patient_id: string;
    start_at: number;
    data_ct: Uint8Array;
    request_hash: string;
    status: string;
    created_at: number;
    updated_at: number;
    /** The patient's answer to a reminder (migration 024): `confirmed` or `declined`; null until one. */
    patient_response: string | null;
    response_at: number | null;
    response_channel: string | null;
  };
  idempotency_keys: {
    tenant_id: string;
    /** A keyed hash of the client's Idempotency-Key (migration 010), never the key itself. */
    key: string;
    request_hash: string;
    status_code: number;
    response: string;
    created_at: number;
  };
  /** Records written before migration 010 (key in clear), until a server start hashes them into `idempotency_keys`. */
  idempotency_keys_unhashed: {
    tenant_id: string;
    key: string;
    request_hash: string;
    status_code: number;
    response: string;
    created_at: number;
  };
  /** The audit log's leaves (migrations 001 and 009; see audit-sequencing.ts for how they are numbered). */
  audit_entries: {
    /** Insertion order (identity). Not the log order: PostgreSQL numbers entries later, by (xid, seq). */
    seq: Generated<number>;
    /** RFC 9162 leaf index + 1, gapless from 1; NULL while the entry awaits the integrator (PostgreSQL). */
    idx: number | null;
    /** The writing transaction (PostgreSQL `xid8`, set by the column default); NULL once numbered, and on SQLite. */
    xid: import('kysely').ColumnType<string | number | null, never, never>;
    tenant_id: string;
    at: number;
    action: string;
    actor: string;
    patient_ref: string | null;
    entry: string;
    leaf_hash: Uint8Array;
  };
  audit_nodes: { level: number; idx: number; hash: Uint8Array };
  audit_log_state: { name: string; value: number };
  leases: { name: string; owner: string; until: number };
  settings: { name: string; value: string };
  /** One row per crypto-shredding of a patient (migration 005): ids and times only. */
  erasures: {
    id: string;
    tenant_id: string;
    patient_id: string;
    patient_ref: string;
    erased_at: number;
    /** 'pending' until the tenant KEK was rotated and the old version destroyed, then 'complete'. */
    shredding: string;
    completed_at: number | null;
  };
  audit_checkpoints: { size: number; root: Uint8Array; note: string; created_at: number };
  /** Persons' device-held public keys (migration 006; see 006-signatures.ts for each column). */
  signers: {
    id: string;
    tenant_id: string;
    person_id: string;
    alg: string;
    public_key: Uint8Array;
    thumbprint: string;
    created_at: number;
    revoked_at: number | null;
  };
  /** The notary signature of each notification, and the sender's when the request was signed (migration 006). */
  notification_signatures: {
    notification_id: string;
    tenant_id: string;
    key_id: string;
    alg: string;
    signed: string;
    signature: Uint8Array;
    secret_ct: Uint8Array;
    sender_signer_id: string | null;
    sender_request_bidx: string | null;
    created_at: number;
  };
  /** Identity and access (migration 008; see 008-identity.ts for what each table holds). */
  users: {
    id: string;
    tenant_id: string;
    email: string;
    display_name: string;
    /** Space-separated role names (auth/permissions.ts). */
    roles: string;
    /** invited | active | locked | disabled */
    status: string;
    password_hash: string | null;
    failed_logins: Generated<number>;
    locked_until: number | null;
    sso_issuer: string | null;
    sso_subject: string | null;
    created_at: number;
    updated_at: number;
  };
  user_tokens: {
    id: string;
    tenant_id: string;
    user_id: string;
    /** enrolment | password_reset */
    purpose: string;
    token_hash: string;
    created_at: number;
    expires_at: number;
    used_at: number | null;
  };
  sessions: {
    id: string;
    tenant_id: string;
    /** user | patient */
    subject_type: string;
    subject_id: string;
    token_hash: string;
    /** cookie | bearer */
    transport: string;
    /** active | mfa | mfa_enrol */
    stage: string;
    /** Space-separated RFC 8176 methods (pwd, otp, hwk, swk, sso, mfa). */
    amr: string;
    created_at: number;
    last_seen_at: number;
    /** Absolute end of the session, whatever its activity. */
    expires_at: number;
    mfa_at: number | null;
    revoked_at: number | null;
    revoked_reason: string | null;
  };
  mfa_totp: {
    user_id: string;
    tenant_id: string;
    secret_ct: Uint8Array;
    confirmed_at: number | null;
    last_step: number | null;
    created_at: number;
  };
  recovery_codes: {
    id: string;
    tenant_id: string;
    user_id: string;
    code_hash: string;
    created_at: number;
    used_at: number | null;
  };
  webauthn_credentials: {
    id: string;
    tenant_id: string;
    user_id: string;
    public_key: Uint8Array;
    counter: number;
    transports: string;
    name: string;
    created_at: number;
    last_used_at: number | null;
  };
  auth_challenges: {
    id: string;
    tenant_id: string;
    purpose: string;
    subject: string;
    challenge: string;
    attempts: Generated<number>;
    created_at: number;
    expires_at: number;
    used_at: number | null;
  };
  auth_throttle: {
    key: string;
    failures: number;
    first_failure_at: number;
    blocked_until: number | null;
    updated_at: number;
  };
  care_team_members: { tenant_id: string; patient_id: string; user_id: string; added_by: string; created_at: number };
  break_glass_grants: {
    id: string;
    tenant_id: string;
    user_id: string;
    patient_id: string;
    session_id: string;
    reason_ct: Uint8Array;
    created_at: number;
    expires_at: number;
    revoked_at: number | null;
    /** The administrator's review (migration 031); the note sealed under the patient's data key. */
    reviewed_at: Generated<number | null>;
    reviewed_by: Generated<string | null>;
    review_outcome: Generated<string | null>;
    review_note_ct: Generated<Uint8Array | null>;
  };
  admin_alerts: {
    id: string;
    tenant_id: string;
    kind: string;
    actor: string;
    target_type: string;
    target_id: string;
    created_at: number;
    acknowledged_at: number | null;
    acknowledged_by: string | null;
    /** Closed once, with an optional note sealed under the tenant's `security-notes` key (migration 031). */
    closed_at: Generated<number | null>;
    closed_by: Generated<string | null>;
    close_note_ct: Generated<Uint8Array | null>;
  };
  oauth_clients: {
    id: string;
    tenant_id: string;
    name: string;
    jwks: string | null;
    jwks_url: string | null;
    scopes: string;
    created_at: number;
    revoked_at: number | null;
    last_used_at: number | null;
  };
  oauth_jti: { client_id: string; jti: string; expires_at: number };
  patient_accounts: {
    id: string;
    tenant_id: string;
    patient_id: string;
    contact_system: string;
    contact_bidx: string;
    contact_ct: Uint8Array;
    /** active | disabled */
    status: string;
    created_at: number;
  };
  devices: {
    id: string;
    tenant_id: string;
    subject_type: string;
    subject_id: string;
    platform: string;
    name: string;
    push_token_ct: Uint8Array | null;
    created_at: number;
    revoked_at: number | null;
  };
  /** Escalation policies (migration 015): steps as JSON, at most one default per tenant. */
  escalation_policies: {
    id: string;
    tenant_id: string;
    name: string;
    /** 1 for the tenant's default, else 0 */
    is_default: number;
    /** JSON: { steps, highSteps?, fallbackTargets? } */
    body: string;
    created_at: number;
    updated_at: number;
  };
  /** Clinical alerts (migration 015): summary PHI-free, details sealed, policy copied at trigger. */
  alerts: {
    id: string;
    tenant_id: string;
    priority: string;
    target: string;
    patient_id: string | null;
    summary: string;
    details_ct: Uint8Array | null;
    source: string | null;
    dedup_bidx: string | null;
    /** The dedup key's keyed hash while the alert is open (unique per tenant), null once closed. */
    open_dedup: string | null;
    policy_id: string | null;
    policy_json: string;
    /** triggered | notified | escalated | acknowledged | resolved | expired */
    state: string;
    /** The last step and repeat fired. */
    step: number;
    repeat: number;
    count: number;
    created_by: string;
    created_at: number;
    last_triggered_at: number;
    updated_at: number;
    acknowledged_at: number | null;
    acknowledged_by: string | null;
    closed_at: number | null;
    closed_by: string | null;
  };
  /** The next step or repeat of an open alert (migration 015); unique per (alert, step, repeat). */
  alert_timers: {
    id: string;
    tenant_id: string;
    alert_id: string;
    step: number;
    repeat: number;
    due_at: number;
    fired_at: number | null;
    fired_by: string | null;
  };
  /** An alert's timeline (migration 015): ids, codes and times only. */
  alert_events: {
    id: string;
    tenant_id: string;
    alert_id: string;
    at: number;
    kind: string;
    actor: string;
    /** JSON of ids and codes */
    data: string;
  };
  /** The consent ledger (migration 013): one row per decision, never updated. */
  consents: {
    id: string;
    tenant_id: string;
    patient_id: string;
    /** sms | email | webhook | * (every channel) */
    channel: string;
    /** permit | deny */
    decision: string;
    /** sms_keyword | portal | api | fhir | hl7 | staff */
    source: string;
    recorded_by: string;
    recorded_at: number;
    /** One of PURPOSES (core/domain.ts) or * (every purpose); migration 023 */
    purpose: string;
  };
  /** A tenant's SMS consent keywords and answers (migration 023): JSON, no PHI. */
  consent_settings: {
    tenant_id: string;
    settings: string;
    updated_by: string;
    updated_at: number;
  };
  /** CommunicationRequest identifiers (migration 013): blind index of `system|value`, the value sealed. */
  notification_identifiers: {
    tenant_id: string;
    identifier_bidx: string;
    notification_id: string;
    patient_id: string;
    identifier_ct: Uint8Array;
    created_at: number;
  };
  /** HL7 v2 senders, messages and announced result orders (migration 012, src/ehr/hl7-apply). */
  hl7_senders: {
    id: string;
    tenant_id: string;
    app: string;
    facility: string;
    patient_id_authority: string | null;
    time_zone: string;
    phone_region: string;
    cert_sha256: string | null;
    /** JSON: [{ code, minutes }] */
    result_holds: string;
    created_at: number;
    removed_at: number | null;
  };
  hl7_messages: {
    id: string;
    tenant_id: string;
    sender_id: string;
    control_id: string;
    message_type: string;
    /** applied | ignored | error | replayed | discarded */
    status: string;
    ack_code: string;
    error_code: string | null;
    error_hl7_code: string | null;
    error_segment: string | null;
    error_sequence: number | null;
    error_field: number | null;
    patient_id: string | null;
    patient_bidx: string | null;
    raw_ct: Uint8Array | null;
    received_at: number;
    updated_at: number;
  };
  hl7_result_orders: {
    tenant_id: string;
    order_bidx: string;
    notification_id: string | null;
    message_id: string;
    created_at: number;
  };
  /** Clinical alert nudges (migration 016): the dispatcher's leased queue; ids, codes, PHI-free text. */
  alert_notifications: {
    id: string;
    tenant_id: string;
    alert_id: string;
    step: number;
    repeat: number;
    user_id: string;
    target: string;
    /** sms | email | webhook | paging */
    channel: string;
    /** queued | sending | sent | delivered | read | failed | suppressed | cancelled */
    status: string;
    /** Why suppressed, failed or cancelled: a lower-case reason or an SP_CHANNEL_* code. */
    reason: string | null;
    priority: string;
    summary: string;
    language: string;
    /** Staff work contact (not PHI, kept as users.email is); null on suppressed rows. */
    address: string | null;
    /** Blind index of the address: SMS replies are matched by it. */
    address_ref: string | null;
    reply_code: number | null;
    /** Until when the reply code stays bound (null: while the alert is unanswered). */
    replies_until: number | null;
    provider: string | null;
    provider_message_id: string | null;
    lease_owner: string | null;
    lease_until: number | null;
    attempts: number;
    created_at: number;
    sent_at: number | null;
    delivered_at: number | null;
    read_at: number | null;
  };
  /** A staff user's alert contact methods (migration 016), ranked; work contact data, not PHI. */
  staff_contacts: {
    tenant_id: string;
    user_id: string;
    rank: number;
    /** sms | email | paging | webhook */
    kind: string;
    value: string;
    updated_at: number;
  };
  /** A staff user's alert settings (migration 016). */
  staff_alert_settings: {
    tenant_id: string;
    user_id: string;
    language: string;
    time_zone: string;
    /** `HH:MM-HH:MM` in time_zone, or null */
    quiet_hours: string | null;
    dnd_until: number | null;
    updated_at: number;
  };
  /** FHIR Subscriptions (migration 014): endpoint, headers and filters as given sealed in data_ct. */
  fhir_subscriptions: {
    id: string;
    tenant_id: string;
    topic: string;
    /** requested | active | error | off */
    status: string;
    patient_ref: string | null;
    status_filter: string | null;
    based_on: string | null;
    /** empty | id-only | full-resource */
    payload_content: string;
    heartbeat_seconds: number | null;
    timeout_seconds: number | null;
    max_count: number;
    end_at: number | null;
    data_ct: Uint8Array;
    events_since_start: number;
    events_sent: number;
    failures: number;
    error_code: string | null;
    next_attempt_at: number;
    last_sent_at: number | null;
    lease_owner: string | null;
    lease_until: number | null;
    created_by: string;
    created_at: number;
    updated_at: number;
  };
  /** On-call schedules (migration 017, src/alerting/schedules): layers as JSON. */
  on_call_schedules: {
    id: string;
    tenant_id: string;
    name: string;
    time_zone: string;
    /** JSON: ScheduleLayer[] (src/alerting/schedules/rotation.ts) */
    layers: string;
    created_by: string;
    created_at: number;
    updated_at: number;
  };
  /** A user takes a range of a schedule; a swap is two overrides with one `swap_id` (migration 017). */
  on_call_overrides: {
    id: string;
    tenant_id: string;
    schedule_id: string;
    user_id: string;
    start_at: number;
    end_at: number;
    swap_id: string | null;
    created_by: string;
    created_at: number;
  };
  /** Named sets of staff users, alert targets `group:<id>` (migration 017). */
  staff_groups: {
    id: string;
    tenant_id: string;
    name: string;
    /** JSON array of user ids */
    members: string;
    created_by: string;
    created_at: number;
    updated_at: number;
  };
  /** Who holds `<role>@<unit>` (migration 017): listed users and/or a schedule's on-call. */
  unit_roles: {
    tenant_id: string;
    unit: string;
    role: string;
    /** JSON array of user ids */
    user_ids: string;
    schedule_id: string | null;
    updated_by: string;
    updated_at: number;
  };
  /** Subscription events not yet delivered (migration 014); ids only. */
  fhir_subscription_events: {
    subscription_id: string;
    event_number: number;
    tenant_id: string;
    focus_type: string;
    focus_id: string;
    /** JSON array of references (`CommunicationRequest/<id>`) */
    context: string;
    code: string;
    at: number;
  };
  /** MLS bindings of messaging devices (migration 020): a `devices` row's signature key, signed by the notary key. */
  messaging_devices: {
    tenant_id: string;
    device_id: string;
    /** user | patient */
    person_kind: string;
    /** User id or patient-account id */
    person_id: string;
    /** Raw 32-byte Ed25519 public key */
    signature_key: Uint8Array;
    /** RFC 8785 JSON of the binding */
    binding: string;
    signature: Uint8Array;
    key_id: string;
    /** Lower-case hex SHA-256 of `binding` */
    binding_hash: string;
    registered_at: number;
    revoked_at: number | null;
  };
  /** Uploaded MLS key packages (migration 020): single use; one last-resort package per device and suite. */
  messaging_key_packages: {
    id: string;
    tenant_id: string;
    device_id: string;
    cipher_suite: string;
    /** Lower-case hex SHA-256 of `data` */
    ref: string;
    /** The encoded MLSMessage (mls_key_package) */
    data: Uint8Array;
    /** 1: the last-resort package (kept when claimed) */
    last_resort: number;
    created_at: number;
  };
  /** Medical devices that raise alarms over MQTT (migration 018); no PHI but the patient id. */
  medical_devices: {
    tenant_id: string;
    id: string;
    /** monitor | paging-gateway */
    kind: string;
    /** SHA-256 (hex) of the DER of the device's client certificate */
    cert_sha256: string;
    /** `<unit>/<bed>` */
    location: string;
    patient_id: string | null;
    /** Target override (a target string) of the device's alarms */
    target: string | null;
    /** online | offline | unknown */
    status: string;
    offline_alert_id: string | null;
    last_seen_at: number | null;
    created_at: number;
    updated_at: number;
    removed_at: number | null;
    /** Registrations of this id so far (1, +1 at each re-registration; migration 019) */
    generation: number;
  };
  /** Every alarm id a device sent and the alert it became (migration 018): QoS 1 repeats fold here. */
  device_alarms: {
    tenant_id: string;
    device_id: string;
    /** The device's registration the alarm id belongs to (migration 019) */
    generation: number;
    alarm_id: string;
    alert_id: string;
    received_at: number;
    cleared_at: number | null;
  };
  /** End-to-end encrypted conversations (migration 021): the MLS Delivery Service's state. */
  conversations: {
    tenant_id: string;
    id: string;
    kind: string;
    cipher_suite: string;
    epoch: number;
    latest_seq: number;
    creator_kind: string;
    creator_id: string;
    patient_id: string | null;
    lifespan_seconds: number | null;
    group_info: Uint8Array | null;
    created_at: number;
  };
  conversation_members: {
    tenant_id: string;
    conversation_id: string;
    person_kind: string;
    person_id: string;
    added_at: number;
    removed_at: number | null;
  };
  conversation_devices: {
    tenant_id: string;
    conversation_id: string;
    device_id: string;
    person_kind: string;
    person_id: string;
    leaf_index: number | null;
    from_seq: number;
    until_seq: number | null;
    cursor: number;
  };
  conversation_events: {
    tenant_id: string;
    conversation_id: string;
    seq: number;
    kind: string;
    epoch: number;
    sender_device_id: string | null;
    data: Uint8Array | null;
    size: number;
    data_hash: string | null;
    client_message_id: string | null;
    urgent: number;
    /** JSON array of attachment ids */
    attachments: string;
    /** JSON array of device ids (welcomes only) */
    recipients: string | null;
    recalled_seq: number | null;
    recalled_at: number | null;
    purged_at: number | null;
    created_at: number;
  };
  messaging_external_senders: {
    tenant_id: string;
    cipher_suite: string;
    public_key: Uint8Array;
    private_ct: Uint8Array;
    created_at: number;
  };
  messaging_policies: {
    tenant_id: string;
    require_post_quantum: number;
    default_lifespan_seconds: number | null;
    updated_at: number;
  };
  /** Encrypted message attachments (migration 022): client ciphertext, unlinked until a message names it. */
  message_attachments: {
    tenant_id: string;
    id: string;
    conversation_id: string;
    uploader_device_id: string;
    size: number;
    data: Uint8Array;
    created_at: number;
    /** The message that names it; null while unlinked (swept after a day). */
    message_seq: number | null;
    linked_at: number | null;
  };
  /** Questions asked by SMS (migration 024), bound to the number by blind index: the reply codes' targets. */
  reply_questions: {
    tenant_id: string;
    id: string;
    address_ref: string;
    patient_id: string;
    appointment_id: string;
    notification_id: string;
    delivery_id: string;
    language: string;
    asked_at: number;
    answered_at: number | null;
    answer: string | null;
  };
  /** Inbound texts that were no reply and no keyword (migration 024), sealed under the patient's data key. */
  inbound_messages: {
    tenant_id: string;
    id: string;
    patient_id: string;
    address_ref: string;
    channel: string;
    body_ct: Uint8Array;
    patients_matched: number;
    received_at: number;
  };
  /** When a number was last answered with the HELP text (at most once a day). */
  inbound_help_answers: { tenant_id: string; address_ref: string; answered_at: number };
  /** A tenant's appointment reply codes (defaults C and N when absent). */
  reply_code_settings: {
    tenant_id: string;
    confirm_code: string;
    decline_code: string;
    updated_by: string;
    updated_at: number;
  };
  /** Signed events to the EHR's webhook (migration 024): ids only, sent with retries by a worker. */
  event_webhook_events: {
    id: string;
    tenant_id: string;
    type: string;
    payload: string;
    created_at: number;
    run_at: number;
    attempts: number;
    lease_owner: string | null;
    lease_until: number | null;
    delivered_at: number | null;
    last_error_code: string | null;
    /** The patient the event is about (migration 027; null on older rows it could not be tied to): erasure deletes it. */
    patient_id: string | null;
  };
  /** Provider message ids of inbound texts already handled (migration 027), pruned after a bounded time: replays change nothing. */
  inbound_sms_seen: { tenant_id: string; provider: string; message_id: string; received_at: number };
  /** A patient's delivery preferences (migration 025); nothing PHI. */
  patient_preferences: {
    tenant_id: string;
    patient_id: string;
    /** JSON: notification type -> channel kinds in the patient's order */
    channels: string;
    language: string | null;
    /** Minutes of the patient's local day; both null when no personal quiet hours */
    quiet_start: number | null;
    quiet_end: number | null;
    /** Minute of the local day after which no SMS leaves (until the next allowed morning) */
    no_text_after: number | null;
    updated_at: number;
  };
  /** Routine deliveries the worker let go out (migration 025): caps, deduplication, digests. */
  delivery_sends: {
    tenant_id: string;
    delivery_id: string;
    patient_id: string;
    channel: string;
    notification_id: string;
    /** Keyed hash of type and content (never the content) */
    content_key: string;
    at: number;
    /** The lead delivery whose digest nudge carried this one (not counted for caps); null: a message of its own */
    digest_of: string | null;
  };
  dev_outbox: {
    id: Generated<number>;
    delivery_id: string;
    tenant_id: string;
    channel: string;
    /** Recipient and body are sealed: contact details are identifiers and the body holds a live link. */
    recipient_ct: Uint8Array;
    subject: string | null;
    body_ct: Uint8Array;
    created_at: number;
  };
  /** Privacy monitoring (migration 031): alerts raised from the audit stream; no PHI. */
  privacy_alerts: {
    id: string;
    tenant_id: string;
    /** An audit actor (`user:<id>`, `api-key:<id>`) or `ip:<address>`. */
    subject: string;
    /** JSON array of detector ids. */
    detectors: string;
    /** Combined score × 10 (0..1000). */
    score_tenths: number;
    status: 'open' | 'investigating' | 'closed';
    outcome: 'false_positive' | 'policy_reminder' | 'sanction' | 'breach' | null;
    first_at: number;
    last_at: number;
    /** JSON array of PHI-free reasons. */
    reasons: string;
    /** JSON array of audit indexes. */
    evidence: string;
    dedup_key: string;
    assignee: string | null;
    created_at: number;
    updated_at: number;
  };
  /** Sealed under the tenant's `privacy-notes` data key. */
  privacy_alert_notes: {
    id: string;
    tenant_id: string;
    alert_id: string;
    at: number;
    author: string;
    text_ct: Uint8Array;
  };
  privacy_suppressions: {
    id: string;
    tenant_id: string;
    detector: string | null;
    subject: string | null;
    reason_ct: Uint8Array;
    created_by: string;
    created_at: number;
    expires_at: number;
    removed_at: number | null;
  };
  privacy_sensitive_patients: {
    tenant_id: string;
    /** The pseudonymous audit reference (core/context.ts patientRef), never the patient id. */
    patient_ref: string;
    kind: 'staff' | 'vip' | 'flagged';
    set_by: string;
    set_at: number;
  };
  privacy_monitor_state: { name: string; cursor_idx: number; state: string; updated_at: number };
}
