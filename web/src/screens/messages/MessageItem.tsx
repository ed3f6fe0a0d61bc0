import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import type { AttachmentRef, StoredMessage } from '@sealpost/sdk/browser';
import { ConfirmButton, Badge, ProblemNote, When } from '../../components/kit';
import type { Me } from '../../app/session';
import type { Messaging } from './useMessaging';
import { nameOf } from './names';
import { asProblem } from './problem';

/** A message of the thread, or the place of one its sender recalled (`message` null). */
export interface Entry {
  seq: number;
  message: StoredMessage | null;
}

function saveFile(bytes: Uint8Array, ref: AttachmentRef): void {
  // Decrypted in memory, handed to the browser's download as a blob: URL (never a server URL).
  const url = URL.createObjectURL(
    new Blob([bytes as Uint8Array<ArrayBuffer>], { type: ref.type || 'application/octet-stream' }),
  );
  const a = document.createElement('a');
  a.href = url;
  a.download = ref.name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export function MessageItem({
  entry,
  m,
  me,
  conversationId,
  reads,
}: {
  entry: Entry;
  m: Messaging;
  me: Me;
  conversationId: string;
  reads: Map<string, number>;
}) {
  const { t } = useTranslation();
  const [error, setError] = useState<unknown>(null);
  const msg = entry.message;
  if (!msg)
    return (
      <li className="sp-messages-msg sp-messages-recalled" data-seq={entry.seq}>
        <em>{t('messages.recalled')}</em>
      </li>
    );
  const readers = [...reads.entries()]
    .filter(([who, seq]) => seq >= msg.seq && who !== `user:${me.id}`)
    .map(([who]) => nameOf(m.directory, who.split(':')[1] ?? '', me.id, t));
  const download = async (ref: AttachmentRef) => {
    setError(null);
    try {
      saveFile(await m.client!.downloadAttachment(conversationId, ref), ref);
    } catch (e) {
      setError(asProblem(e));
    }
  };
  return (
    <li className={`sp-messages-msg${msg.mine ? ' sp-messages-mine' : ''}`} data-seq={msg.seq}>
      <div className="sp-messages-meta">
        <strong>{msg.mine ? t('messages.you') : nameOf(m.directory, msg.sender.id, me.id, t)}</strong> ·{' '}
        <When at={msg.at} />
        {msg.urgent && <Badge tone="warn">{t('messages.urgent')}</Badge>}
      </div>
      {msg.body && <p className="sp-messages-body">{msg.body}</p>}
      {msg.attachments.map((a) => (
        <button key={a.id} type="button" className="sp-button sp-messages-file" onClick={() => void download(a)}>
          {t('messages.download', { name: a.name })}
        </button>
      ))}
      {msg.mine && (
        <div className="sp-messages-foot">
          <span className="sp-messages-receipt" data-testid="receipt">
            {readers.length ? t('messages.readBy', { names: readers.join(', ') }) : t('messages.sentNotRead')}
          </span>
          <ConfirmButton
            danger
            label={t('messages.recall')}
            title={t('messages.recallTitle')}
            body={t('messages.recallBody')}
            confirmLabel={t('messages.recall')}
            onConfirm={() => m.client!.recall(conversationId, msg.seq).catch((e) => Promise.reject(asProblem(e)))}
          />
        </div>
      )}
      <ProblemNote error={error} />
    </li>
  );
}
