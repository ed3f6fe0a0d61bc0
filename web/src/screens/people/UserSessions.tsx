import { useTranslation } from 'react-i18next';
import { ConfirmButton, DataTable, ProblemNote, useAsync, When } from '../../components/kit';
import { useSession } from '../../app/session';
import { users, type UserSession } from './people-api';

/** A user's live sessions (how each was opened, when last seen) and ending one of them. */
export function UserSessions({ userId, refresh, isSelf }: { userId: string; refresh: number; isSelf: boolean }) {
  const { t } = useTranslation();
  const { me } = useSession();
  const list = useAsync(() => users.sessions(userId), [userId, refresh]);
  return (
    <section aria-labelledby="sp-people-sessions-h">
      <h2 id="sp-people-sessions-h">{t('people.sessions.title')}</h2>
      <ProblemNote error={list.error} />
      <DataTable<UserSession>
        caption={t('people.sessions.title')}
        rows={list.data ?? []}
        rowKey={(s) => s.id}
        empty={t('people.sessions.none')}
        columns={[
          {
            key: 'how',
            header: t('people.sessions.how'),
            cell: (s) =>
              `${t(`people.sessions.transport.${s.transport === 'cookie' ? 'cookie' : 'bearer'}`)} · ${s.amr.join(' + ')}`,
          },
          { key: 'created', header: t('people.sessions.created'), cell: (s) => <When at={s.createdAt} /> },
          { key: 'seen', header: t('people.sessions.seen'), cell: (s) => <When at={s.lastSeenAt} /> },
          { key: 'expires', header: t('people.sessions.expires'), cell: (s) => <When at={s.expiresAt} /> },
          {
            key: 'end',
            header: t('people.sessions.action'),
            cell: (s) =>
              isSelf && s.id === me.session?.id ? (
                t('people.sessions.current')
              ) : (
                <ConfirmButton
                  danger
                  label={t('people.sessions.end')}
                  title={t('people.sessions.end')}
                  body={t('people.sessions.endBody')}
                  onConfirm={async () => {
                    await users.endSession(userId, s.id);
                    list.reload();
                  }}
                />
              ),
          },
        ]}
      />
    </section>
  );
}
