import { useEffect, useRef, type ReactNode } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import type { KeyStore, MessagingClient } from '@sealpost/sdk/browser';
import { Page, ProblemNote, useAsync } from '../../components/kit';
import type { Me } from '../../app/session';
import { readMarks, recalledSeqs, type Messaging } from './useMessaging';
import { titleOf } from './names';
import { MessageItem, type Entry } from './MessageItem';
import { Composer } from './Composer';

async function load(client: MessagingClient, store: KeyStore, id: string) {
  const view = (await client.conversations()).find((c) => c.id === id);
  if (!view) throw { title: 'Conversation not found', code: 'SP_CONVERSATION_NOT_FOUND' };
  const [messages, recalled, reads, blocked] = await Promise.all([
    client.messages(id),
    recalledSeqs(store, id),
    readMarks(store, id),
    client.blocked(id),
  ]);
  const entries: Entry[] = [
    ...messages.map((m) => ({ seq: m.seq, message: m })),
    ...recalled.filter((s) => !messages.some((m) => m.seq === s)).map((seq) => ({ seq, message: null })),
  ].sort((a, b) => a.seq - b.seq);
  return { view, entries, reads, blocked };
}

/** One conversation: its messages (decrypted in this browser), receipts, recall, and the composer. */
export function ConversationView({ m, me, status }: { m: Messaging; me: Me; status: ReactNode }) {
  const { t } = useTranslation();
  const { id = '' } = useParams();
  const client = m.client!;
  const store = m.store!;
  const data = useAsync(() => load(client, store, id), [client, store, id, m.version]);
  const marked = useRef(0);

  // What arrives while the conversation is open in front of the person is read: tell the senders (E2EE).
  useEffect(() => {
    const theirs = data.data?.entries.filter((e) => e.message && !e.message.mine) ?? [];
    const last = theirs[theirs.length - 1]?.seq ?? 0;
    if (last <= marked.current || document.visibilityState !== 'visible') return;
    marked.current = last;
    void (async () => {
      const key = `console/marked/${id}`;
      const prev = await store.get(key);
      if (prev && Number(new TextDecoder().decode(prev)) >= last) return;
      await client.markRead(id, last);
      await store.put(key, new TextEncoder().encode(String(last)));
    })().catch(() => undefined);
  }, [data.data, client, store, id]);

  const title = data.data ? titleOf(data.data.view, m.directory, me.id, t) : t('messages.conversation');
  return (
    <Page title={title} intro={t('messages.keysHere')} actions={status}>
      <p>
        <Link to="..">{t('messages.back')}</Link>
      </p>
      <ProblemNote error={data.error} />
      {data.data?.blocked && (
        <p className="sp-problem" role="alert">
          {t('messages.blocked')}
        </p>
      )}
      {data.data && (
        <>
          {data.data.entries.length === 0 && <p className="sp-empty">{t('messages.empty')}</p>}
          <ol className="sp-messages-thread" aria-label={t('messages.thread')}>
            {data.data.entries.map((e) => (
              <MessageItem key={e.seq} entry={e} m={m} me={me} conversationId={id} reads={data.data!.reads} />
            ))}
          </ol>
          <Composer client={client} conversationId={id} />
        </>
      )}
    </Page>
  );
}
