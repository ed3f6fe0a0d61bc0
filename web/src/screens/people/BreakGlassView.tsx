import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { Badge, ConfirmButton, DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { useSession } from '../../app/session';
import { breakGlass, users, type Grant } from './people-api';
import { SecurityAlerts } from './SecurityAlerts';
import { NoteDialog } from './NoteDialog';

const grantState = (g: Grant, now: number) =>
  g.revokedAt ? 'ended' : Date.parse(g.expiresAt) <= now ? 'expired' : 'live';

/**
 * Break-glass review: every emergency access outside the care team (who, which patient by opaque
 * id, the stated reason for administrators, until when), ending one judged unjustified, and the
 * security alerts to acknowledge. The reason may hold PHI: it stays on this page (never in a URL).
 */
export function BreakGlassView() {
  const { t } = useTranslation();
  const { can } = useSession();
  const grants = useAsync(() => breakGlass.grants(), []);
  // Names of the people who broke the glass, when this person may list users (else their ids).
  const names = useAsync(
    async () => (can('user.manage') ? new Map((await users.list()).map((u) => [u.id, u.displayName])) : new Map()),
    [],
  );
  const who = (id: string) => names.data?.get(id) ?? id;
  const now = Date.now();
  const [tick, setTick] = useState(0);
  return (
    <Page title={t('people.breakGlass.title')} intro={t('people.breakGlass.intro')}>
      <h2>{t('people.breakGlass.grants')}</h2>
      <ProblemNote error={grants.error} />
      <DataTable<Grant>
        caption={t('people.breakGlass.grants')}
        rows={grants.data ?? []}
        rowKey={(g) => g.id}
        empty={t('people.breakGlass.none')}
        columns={[
          { key: 'who', header: t('people.breakGlass.who'), cell: (g) => who(g.userId) },
          {
            key: 'patient',
            header: t('people.breakGlass.patient'),
            cell: (g) => <code className="sp-people-id">{g.patientId}</code>,
          },
          {
            key: 'reason',
            header: t('people.breakGlass.reason'),
            cell: (g) =>
              g.reason === undefined
                ? t('people.breakGlass.reasonHidden')
                : (g.reason ?? t('people.breakGlass.erased')),
          },
          { key: 'at', header: t('people.breakGlass.at'), cell: (g) => <When at={g.createdAt} /> },
          {
            key: 'review',
            header: t('people.review.title'),
            cell: (g) =>
              g.reviewOutcome ? (
                <>
                  <Badge tone={g.reviewOutcome === 'justified' ? 'ok' : 'bad'}>
                    {t(`people.review.outcomes.${g.reviewOutcome}`)}
                  </Badge>{' '}
                  {g.reviewNote}
                </>
              ) : (
                <NoteDialog
                  label={t('people.review.action')}
                  title={t('people.review.action')}
                  body={t('people.review.body', { name: who(g.userId) })}
                  outcomes={[
                    { value: 'justified', label: t('people.review.outcomes.justified') },
                    { value: 'unjustified', label: t('people.review.outcomes.unjustified') },
                  ]}
                  submitLabel={t('people.review.submit')}
                  onSubmit={async (note, outcome) => {
                    await breakGlass.review(g.id, outcome ?? 'justified', note);
                    grants.reload();
                    setTick((n) => n + 1);
                  }}
                />
              ),
          },
          { key: 'until', header: t('people.breakGlass.until'), cell: (g) => <When at={g.revokedAt ?? g.expiresAt} /> },
          {
            key: 'state',
            header: t('people.keys.state'),
            cell: (g) => {
              const s = grantState(g, now);
              return <Badge tone={s === 'live' ? 'warn' : 'neutral'}>{t(`people.breakGlass.states.${s}`)}</Badge>;
            },
          },
          {
            key: 'actions',
            header: t('people.keys.actions'),
            cell: (g) =>
              grantState(g, now) !== 'live' ? null : (
                <ConfirmButton
                  danger
                  label={t('people.breakGlass.end')}
                  title={t('people.breakGlass.end')}
                  body={t('people.breakGlass.endBody', { name: who(g.userId) })}
                  onConfirm={async () => {
                    await breakGlass.revoke(g.id);
                    grants.reload();
                  }}
                />
              ),
          },
        ]}
      />
      <SecurityAlerts who={who} refresh={tick} />
    </Page>
  );
}
