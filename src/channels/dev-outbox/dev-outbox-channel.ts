import type { Channel, OutboundChannelKind, OutboundMessage, SendResult } from '../channel.js';

export interface OutboxRecord {
  delivery_id: string;
  tenant_id: string;
  channel: string;
  recipient_ct: Uint8Array;
  subject: string | null;
  body_ct: Uint8Array;
  created_at: number;
}

/** Where the dev outbox writes; the store's repositories satisfy it. */
export interface OutboxSink {
  /** Records the message once per delivery id; a repeated call for the same id adds nothing. */
  record(row: OutboxRecord): Promise<void>;
}

/** Seals outbox fields at rest; bound to the delivery id and field name. */
export interface OutboxSealer {
  seal(deliveryId: string, field: 'recipient' | 'body', value: string): Uint8Array;
  open(deliveryId: string, field: 'recipient' | 'body', sealed: Uint8Array): string;
}

/**
 * The default for every channel kind: keeps what would have been sent in the database so a developer
 * (or a test) can read it with `GET /v1/dev/outbox` or `sealpost outbox`. Nudges carry no PHI, but the
 * recipient is an identifier and the body holds a live one-time link, so both are sealed at rest.
 */
export class DevOutboxChannel implements Channel {
  readonly provider = 'dev-outbox';

  constructor(
    readonly kind: OutboundChannelKind,
    private readonly sink: OutboxSink,
    private readonly sealer: OutboxSealer,
    private readonly clock: () => Date = () => new Date(),
  ) {}

  async send(m: OutboundMessage): Promise<SendResult> {
    await this.sink.record({
      delivery_id: m.deliveryId,
      tenant_id: m.tenantId,
      channel: this.kind,
      recipient_ct: this.sealer.seal(m.deliveryId, 'recipient', m.to),
      subject: m.subject ?? null,
      body_ct: this.sealer.seal(m.deliveryId, 'body', m.text),
      created_at: this.clock().getTime(),
    });
    return { status: 'delivered', providerMessageId: `outbox-${m.deliveryId}` };
  }
}

/** An outbox row opened for display (API and CLI). */
export interface OutboxItem {
  id: string;
  deliveryId: string;
  channel: string;
  recipient: string;
  subject: string | null;
  body: string;
  createdAt: string;
}

export function openOutboxRow(r: OutboxRecord & { id: number }, sealer: OutboxSealer): OutboxItem {
  return {
    id: String(r.id),
    deliveryId: r.delivery_id,
    channel: r.channel,
    recipient: sealer.open(r.delivery_id, 'recipient', r.recipient_ct),
    subject: r.subject,
    body: sealer.open(r.delivery_id, 'body', r.body_ct),
    createdAt: new Date(Number(r.created_at)).toISOString(),
  };
}
