import { AppError } from '../../core/errors.js';
import { OutboundAddressPolicy, OutboundAddressRefused } from '../outbound-address.js';

/**
 * A Web Push endpoint is a URL a browser handed us: at registration it must pass the webhook address
 * policy (https; a public unicast address, or a host in SEALPOST_WEBHOOK_ALLOWED_HOSTS), every
 * address its host resolves to included. The check is repeated at each send, on the connection's own
 * resolution (web-push-sender.ts), so a host that later resolves elsewhere is still refused.
 */
export async function checkEndpointAddress(endpoint: string, allowedHosts: readonly string[]): Promise<void> {
  const policy = new OutboundAddressPolicy(allowedHosts);
  const url = new URL(endpoint);
  try {
    policy.assertUrl(url);
  } catch (e) {
    if (e instanceof OutboundAddressRefused) throw new AppError('SP_PUSH_ADDRESS_REFUSED', 'subscription.endpoint');
    throw e;
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  await new Promise<void>((resolve, reject) => {
    policy.lookup(host, { all: true }, (err) => {
      if (!err) return resolve();
      if (err instanceof OutboundAddressRefused)
        return reject(new AppError('SP_PUSH_ADDRESS_REFUSED', 'subscription.endpoint'));
      reject(new AppError('SP_PUSH_INVALID_REGISTRATION', 'subscription.endpoint: the host does not resolve'));
    });
  });
}
