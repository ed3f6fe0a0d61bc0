import { useTranslation } from 'react-i18next';
import { Badge, ConfirmButton, DataTable, ProblemNote, useAsync, When } from '../../components/kit';
import { breakGlass, type SecurityAlert } from './people-api';
import { NoteDialog } from './NoteDialog';

/** `user:<id>` → the person's name when known; `system:…` and others as they are. */
const actorName = (actor: string, who: (id: string) => string) =>
  actor.startsWith('user:') ? who(actor.slice(5)) : actor;

/** Administrator alerts (break-glass, lockouts, repeated second-factor failures…), newest first; acknowledge. */
export function SecurityAlerts({ who, refresh }: { who: (id: string) => string; refresh: number }) {
  const { t } = useTranslation();
  const list = useAsync(() => breakGlass.alerts(), [refresh]);
  return (
    <section aria-labelledby="sp-people-alerts-h">
      <h2 id="sp-people-alerts-h">{t('people.alerts.title')}</h2>
      <ProblemNote error={list.error} />
      <DataTable<SecurityAlert>
        caption={t('people.alerts.title')}
        rows={list.data ?? []}
        rowKey={(a) => a.id}
        empty={t('people.alerts.none')}
        columns={[
          {
            key: 'kind',
            header: t('people.alerts.kind'),
            cell: (a) => t(`people.alerts.kinds.${a.kind}`, { defaultValue: a.kind }),
          },
          { key: 'actor', header: t('people.alerts.actor'), cell: (a) => actorName(a.actor, who) },
          {
            key: 'target',
            header: t('people.alerts.target'),
            cell: (a) => (a.targetType === 'user' ? who(a.targetId) : `${a.targetType} ${a.targetId}`),
          },
          { key: 'at', header: t('people.breakGlass.at'), cell: (a) => <When at={a.createdAt} /> },
          {
            key: 'state',
            header: t('people.keys.state'),
            cell: (a) =>
              a.closedAt ? (
                <>
                  <Badge tone="neutral">
                    {t('people.alerts.closedBy', { name: actorName(a.closedBy ?? '', who) })}
                  </Badge>{' '}
                  {a.closeNote}
                </>
              ) : a.acknowledgedAt ? (
                <Badge tone="ok">
                  {t('people.alerts.acknowledgedBy', { name: actorName(a.acknowledgedBy ?? '', who) })}
                </Badge>
              ) : (
                <Badge tone="warn">{t('people.alerts.open')}</Badge>
              ),
          },
          {
            key: 'actions',
            header: t('people.keys.actions'),
            cell: (a) =>
              a.closedAt ? (
                <When at={a.closedAt} />
              ) : (
                <div className="sp-actions">
                  {!a.acknowledgedAt && (
                    <ConfirmButton
                      label={t('people.alerts.acknowledge')}
                      title={t('people.alerts.acknowledge')}
                      body={t('people.alerts.acknowledgeBody')}
                      onConfirm={async () => {
                        await breakGlass.acknowledge(a.id);
                        list.reload();
                      }}
                    />
                  )}
                  <NoteDialog
                    label={t('people.alerts.close')}
                    title={t('people.alerts.close')}
                    body={t('people.alerts.closeBody')}
                    submitLabel={t('people.alerts.close')}
                    onSubmit={async (note) => {
                      await breakGlass.close(a.id, note);
                      list.reload();
                    }}
                  />
                </div>
              ),
          },
        ]}
      />
    </section>
  );
}
