import { useRef, useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import type { MessagingClient } from '@sealpost/sdk/browser';
import { ProblemNote } from '../../components/kit';
import { InputNote } from './InputNote';
import { asProblem } from './problem';

/** Files above this are refused here before encrypting (the server's own limit may be lower). */
const MAX_FILE_BYTES = 25 * 1024 * 1024;

/** Write and send: the text and any file are encrypted in this browser before anything leaves it. */
export function Composer({ client, conversationId }: { client: MessagingClient; conversationId: string }) {
  const { t } = useTranslation();
  const [body, setBody] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [invalid, setInvalid] = useState('');
  const [sent, setSent] = useState(false);
  const file = useRef<HTMLInputElement>(null);

  const submit = async (ev: FormEvent) => {
    ev.preventDefault();
    setError(null);
    setInvalid('');
    setSent(false);
    const f = file.current?.files?.[0];
    if (!body.trim() && !f) return setInvalid(t('messages.writeSomething'));
    if (f && f.size > MAX_FILE_BYTES) return setInvalid(t('messages.fileTooLarge'));
    setBusy(true);
    try {
      const attachments = f ? [{ name: f.name, type: f.type, data: new Uint8Array(await f.arrayBuffer()) }] : undefined;
      await client.send(conversationId, body, attachments ? { attachments } : {});
      setBody('');
      if (file.current) file.current.value = '';
      setSent(true);
    } catch (e) {
      setError(asProblem(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="sp-messages-composer" onSubmit={submit} aria-labelledby="sp-messages-compose-h">
      <h2 id="sp-messages-compose-h" className="sp-visually-hidden">
        {t('messages.compose')}
      </h2>
      <label htmlFor="sp-messages-text">{t('messages.messageLabel')}</label>
      <textarea
        id="sp-messages-text"
        rows={3}
        value={body}
        maxLength={20_000}
        onChange={(e) => setBody(e.target.value)}
        autoComplete="off"
      />
      <label htmlFor="sp-messages-file">{t('messages.attachLabel')}</label>
      <input id="sp-messages-file" type="file" ref={file} />
      <InputNote text={invalid} />
      <ProblemNote error={error} />
      <p role="status" className="sp-messages-muted">
        {busy ? t('messages.sending') : sent ? t('messages.sent') : ''}
      </p>
      <button type="submit" className="sp-button sp-primary" disabled={busy}>
        {t('messages.send')}
      </button>
    </form>
  );
}
