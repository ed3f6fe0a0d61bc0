import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import type { MessagingClient } from '@sealpost/sdk/browser';
import { Badge, ProblemNote, useAsync, When } from '../../components/kit';
import type { Me } from '../../app/session';
import type { Messaging } from './useMessaging';
import { titleOf } from './names';
import { NewConversation } from './NewConversation';

async function load(client: MessagingClient) {
  const all = await client.conversations();
  // Only what this device can read: a conversation it has no MLS state of yet waits for its welcome.
  return Promise.all(
    all.map(async (c) => {
      const msgs = await client.messages(c.id);
      return { c, count: msgs.length, last: msgs[msgs.length - 1]?.at ?? c.createdAt };
    }),
  );
}

/** The person's conversations, newest activity first, and the form to start one. */
export function ConversationList({ m, me }: { m: Messaging; me: Me }) {
  const { t } = useTranslation();
  const client = m.client!;
  const list = useAsync(() => load(client), [client, m.version]);
  const rows = [...(list.data ?? [])].sort((a, b) => b.last.localeCompare(a.last));
  return (
    <div className="sp-messages-home">
      <section aria-labelledby="sp-messages-list-h" className="sp-messages-list">
        <h2 id="sp-messages-list-h">{t('messages.conversations')}</h2>
        <ProblemNote error={list.error} />
        {list.data && rows.length === 0 && <p className="sp-empty">{t('messages.noConversations')}</p>}
        <ul>
          {rows.map(({ c, count, last }) => (
            <li key={c.id}>
              <Link to={c.id} className="sp-messages-conv" data-conversation={c.id}>
                <span className="sp-messages-conv-title">{titleOf(c, m.directory, me.id, t)}</span>
                <span className="sp-messages-conv-meta">
                  <Badge>{t(`messages.kind.${c.kind}`)}</Badge> {t('messages.count', { count })} · <When at={last} />
                </span>
              </Link>
            </li>
          ))}
        </ul>
      </section>
      <NewConversation m={m} me={me} />
    </div>
  );
}
