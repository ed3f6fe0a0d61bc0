import type { Channel } from '../channels/channel.js';

export interface SmsAnswerDeps {
  /** The SMS channel answers go out on; absent: no answer is sent. */
  sms?: Channel;
  newId: () => string;
  timeoutMs: number;
  onError?: (e: unknown) => void;
}

/**
 * A short answer to an inbound text (a keyword confirmation, the HELP text, the acknowledgement of a
 * reply), sent straight through the SMS channel rather than as a notification: it answers a text the
 * patient just sent, so it is neither consent-checked nor capped. The caller's text must be PHI-free.
 * A failure is reported to `onError` and swallowed: what the inbound text changed is already recorded.
 */
export class SmsAnswer {
  constructor(private readonly d: SmsAnswerDeps) {}

  async send(tenantId: string, to: string, text: string, ref = this.d.newId()): Promise<boolean> {
    const sms = this.d.sms;
    if (!sms) return false;
    try {
      await sms.send(
        { deliveryId: this.d.newId(), notificationId: ref, tenantId, channel: 'sms', to, text },
        AbortSignal.timeout(this.d.timeoutMs),
      );
      return true;
    } catch (e) {
      this.d.onError?.(e);
      return false;
    }
  }
}
