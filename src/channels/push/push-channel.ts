import type { Channel, OutboundMessage, SendResult } from '../channel.js';
import { ChannelError } from '../channel.js';
import { parseTarget, PushTargetInvalid, type PushPayload, type PushTarget } from './push-target.js';
import type { WebPushSender } from './web-push-sender.js';
import type { FcmSender } from './fcm-sender.js';
import type { ApnsSender } from './apns-sender.js';

export interface PushSenders {
  webpush: WebPushSender;
  /** Absent: FCM is not configured, and an FCM registration fails over. */
  fcm?: FcmSender;
  apns?: ApnsSender;
}

/**
 * The `push` channel: the contact point's value says which service (Web Push, FCM or APNs) and where.
 * What leaves is the PHI-free title of the nudge (`message.text`, the push part of the nudge
 * templates) and the notification id; never the portal link or anything of the notification.
 */
export class PushChannel implements Channel {
  readonly kind = 'push' as const;
  readonly provider = 'push';

  constructor(private readonly senders: PushSenders) {}

  async send(message: OutboundMessage, signal?: AbortSignal): Promise<SendResult> {
    let target: PushTarget;
    try {
      target = parseTarget(message.to);
    } catch (e) {
      if (e instanceof PushTargetInvalid)
        throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'push registration invalid');
      throw e;
    }
    const payload: PushPayload = { title: message.text, notificationId: message.notificationId };
    switch (target.kind) {
      case 'webpush':
        await this.senders.webpush.send(target.subscription, payload, message.deliveryId, signal);
        return { status: 'sent' };
      case 'fcm': {
        if (!this.senders.fcm) throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'fcm not configured');
        const id = await this.senders.fcm.send(target.token, payload, signal);
        return { status: 'sent', ...(id ? { providerMessageId: id } : {}) };
      }
      case 'apns': {
        if (!this.senders.apns) throw new ChannelError('SP_CHANNEL_SEND_FAILED', false, 'apns not configured');
        const id = await this.senders.apns.send(target.token, payload, message.deliveryId, signal);
        return { status: 'sent', ...(id ? { providerMessageId: id } : {}) };
      }
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.senders.webpush.close(), this.senders.fcm?.close(), this.senders.apns?.close()]);
  }
}
