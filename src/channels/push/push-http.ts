import { ChannelError } from '../channel.js';
import { CERTIFICATE_ERROR } from '../outbound-tls.js';
import { isAddressRefusal } from '../outbound-address.js';

const TIMEOUT_ERROR = /^(ETIMEDOUT|UND_ERR_CONNECT_TIMEOUT|UND_ERR_HEADERS_TIMEOUT|UND_ERR_BODY_TIMEOUT)$/;

/**
 * A failed call to a push service as a ChannelError. Only the error name and low-level code survive:
 * the cause chain could name a subscription's endpoint host, which is the patient's.
 */
export function pushFailure(e: unknown, what: string): ChannelError {
  if (e instanceof ChannelError) return e;
  if (isAddressRefusal(e)) return new ChannelError('SP_CHANNEL_ADDRESS_REFUSED', false, `${what} address refused`);
  let code: string | undefined;
  let certificate = false;
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth += 1) {
    const c = (cur as { code?: unknown }).code;
    if (typeof c === 'string' && /^[A-Z][A-Z0-9_]{1,40}$/.test(c)) {
      code ??= c;
      if (CERTIFICATE_ERROR.test(c)) certificate = true;
    }
  }
  const name = (e as { name?: string } | null)?.name;
  if (name === 'TimeoutError' || name === 'AbortError' || TIMEOUT_ERROR.test(code ?? ''))
    return new ChannelError('SP_CHANNEL_TIMEOUT', true, `${what} timed out`);
  if (certificate) return new ChannelError('SP_CHANNEL_TLS_REJECTED', false, `${what} tls certificate rejected`);
  return new ChannelError(
    'SP_CHANNEL_SEND_FAILED',
    true,
    code ? `${what} unreachable (${code})` : `${what} unreachable`,
  );
}

export const gone = (what: string, detail: string) =>
  new ChannelError('SP_CHANNEL_RECIPIENT_GONE', false, `${what} ${detail}`);
