import { parsePhoneNumberFromString } from 'libphonenumber-js/max';
import type { Store } from '../store/store.js';
import type { Channel } from '../channels/channel.js';
import type { EnvelopeCipher } from '../crypto/envelope-cipher.js';
import type { Language } from '../core/domain.js';
import { isAppError } from '../core/errors.js';
import { replyConfirmation } from './alert-nudge.js';
import { REPLY_MAX_AGE_MS, smsAddressRef } from './alert-notifier.js';
import type { AlertResponder } from './alert-types.js';

export interface AlertSmsRepliesDeps {
  store: Store;
  cipher: Pick<EnvelopeCipher, 'blindIndex'>;
  /** The tenant the SMS number serves (inbound SMS carry no tenant). */
  tenantId: string;
  /** Where the confirmation goes back; absent: no confirmation. */
  sms?: Channel;
  /** The alert service (set once it is built; absent: every text falls through). */
  responder: () => AlertResponder | undefined;
  clock: () => Date;
  newId: () => string;
  timeoutMs: number;
  onError?: (e: unknown) => void;
}

/** `1` acknowledges, `1D` (or `1 d`) declines: digits, then an optional D; nothing else. */
const REPLY = /^\s*(\d{1,4})\s*([dD])?\s*[.!]?\s*$/;

/**
 * Acknowledgement by SMS reply. An alert SMS nudge says "Reply 1 to acknowledge, 1D to pass it on";
 * the code is bound to that alert and that recipient (alert-notifier.ts). A reply is matched to the
 * latest nudge still bound with that code whose address has the sender's blind index, so a number
 * nobody sent a nudge to, or a stale code, matches nothing and the text falls through to the
 * consent keywords (STOP/START) unchanged.
 */
export class AlertSmsReplies {
  constructor(private readonly d: AlertSmsRepliesDeps) {}

  /**
   * Handles a reply when it is one; false when the text is not a reply code of an alert sent to
   * this number (the caller goes on with its own handling). The confirmation is PHI-free.
   */
  async handle(from: string, body: string, requestId?: string): Promise<boolean> {
    const m = REPLY.exec(body);
    const responder = this.d.responder();
    if (!m || !responder) return false;
    const phone = parsePhoneNumberFromString(from.trim());
    if (!phone || !phone.isValid()) return false;
    const code = Number(m[1]);
    const decline = m[2] !== undefined;
    const now = this.d.clock().getTime();
    const ref = smsAddressRef(this.d.cipher, this.d.tenantId, phone.number);
    const row = await this.d.store.read.alertNotifications.findReply(
      this.d.tenantId,
      ref,
      code,
      now - REPLY_MAX_AGE_MS,
      now,
    );
    if (!row) return false;
    const ctx = { tenantId: row.tenant_id, actor: `user:${row.user_id}`, requestId };
    const by = { userId: row.user_id, via: 'sms' as const };
    let outcome: 'acknowledged' | 'declined' | 'closed' | 'unknown';
    try {
      if (decline) await responder.decline(ctx, row.alert_id, by);
      else await responder.acknowledge(ctx, row.alert_id, by);
      outcome = decline ? 'declined' : 'acknowledged';
    } catch (e) {
      if (isAppError(e) && e.code === 'SP_ALERT_CLOSED') outcome = 'closed';
      else {
        this.d.onError?.(e);
        outcome = 'unknown';
      }
    }
    await this.confirm(row.alert_id, phone.number, row.language as Language, outcome, `${code}${decline ? 'D' : ''}`);
    return true;
  }

  private async confirm(
    alertId: string,
    to: string,
    language: Language,
    outcome: Parameters<typeof replyConfirmation>[1],
    code: string,
  ) {
    const sms = this.d.sms;
    if (!sms) return;
    try {
      await sms.send(
        {
          deliveryId: this.d.newId(),
          notificationId: alertId,
          tenantId: this.d.tenantId,
          channel: 'sms',
          to,
          text: replyConfirmation(language, outcome, code),
        },
        AbortSignal.timeout(this.d.timeoutMs),
      );
    } catch (e) {
      // The answer was recorded; only the courtesy confirmation was lost.
      this.d.onError?.(e);
    }
  }
}
