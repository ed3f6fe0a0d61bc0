import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, Badge, DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { statusTone } from './notification-api';
import { NotificationTimeline } from './NotificationTimeline';
import { NotificationProof } from './NotificationProof';

type View = Awaited<ReturnType<typeof load>>;
type Delivery = View['deliveries'][number];
const load = (id: string) => ok(api.GET('/v1/notifications/{id}', { params: { path: { id } } }));

/** One notification: its status and each delivery's attempts, its audit trail, its proof and (audited) content. */
export function NotificationDetail() {
  const { id = '' } = useParams();
  const { t } = useTranslation();
  const { can } = useSession();
  const n = useAsync(() => load(id), [id]);
  const v = n.data;
  const cancellable = v?.deliveries.some((d) => ['scheduled', 'queued'].includes(d.status));

  return (
    <Page
      title={v ? t(`notifications.types.${v.type}`, v.type) : t('notifications.detail')}
      intro={<Link to="/notifications">{t('notifications.back')}</Link>}
      actions={
        v &&
        can('notification.cancel') &&
        cancellable && (
          <ConfirmButton
            danger
            label={t('notifications.cancel')}
            title={t('notifications.cancelTitle')}
            body={t('notifications.cancelBody')}
            confirmLabel={t('notifications.cancelConfirm')}
            onConfirm={async () => {
              await ok(api.POST('/v1/notifications/{id}/cancel', { params: { path: { id } } }));
              n.reload();
            }}
          />
        )
      }
    >
      <ProblemNote error={n.error} />
      {v && (
        <>
          <dl className="sp-notifications-facts">
            <dt>{t('notifications.status')}</dt>
            <dd>
              <Badge tone={statusTone(v.status)}>{t(`notifications.statuses.${v.status}`, v.status)}</Badge>
            </dd>
            <dt>{t('notifications.priority')}</dt>
            <dd>{v.priority}</dd>
            <dt>{t('notifications.patient')}</dt>
            <dd>
              <code>{v.patientId}</code>
            </dd>
            <dt>{t('notifications.created')}</dt>
            <dd>
              <When at={v.createdAt} />
            </dd>
            <dt>{t('notifications.sendAt')}</dt>
            <dd>
              <When at={v.sendAt} />
            </dd>
            <dt>{t('notifications.acknowledged')}</dt>
            <dd>
              <When at={v.acknowledgedAt} />
            </dd>
            <dt>{t('notifications.cancelled')}</dt>
            <dd>
              <When at={v.cancelledAt} />
            </dd>
          </dl>
          <h2>{t('notifications.deliveries')}</h2>
          <DataTable<Delivery>
            caption={t('notifications.deliveries')}
            rows={v.deliveries}
            rowKey={(d) => d.id}
            columns={[
              { key: 'channel', header: t('notifications.channel'), cell: (d) => d.channel },
              {
                key: 'status',
                header: t('notifications.status'),
                cell: (d) => (
                  <Badge tone={statusTone(d.status)}>{t(`notifications.statuses.${d.status}`, d.status)}</Badge>
                ),
              },
              { key: 'attempts', header: t('notifications.attempts'), cell: (d) => d.attempts },
              {
                key: 'error',
                header: t('notifications.error'),
                cell: (d) => (d.lastErrorCode ? <code>{d.lastErrorCode}</code> : '—'),
              },
              { key: 'sent', header: t('notifications.sent'), cell: (d) => <When at={d.sentAt} /> },
              { key: 'delivered', header: t('notifications.delivered'), cell: (d) => <When at={d.deliveredAt} /> },
              { key: 'read', header: t('notifications.readAt'), cell: (d) => <When at={d.readAt} /> },
              {
                key: 'failed',
                header: t('notifications.failedAt'),
                cell: (d) => <When at={d.failedAt ?? d.cancelledAt} />,
              },
            ]}
          />
          <NotificationTimeline id={id} version={v.status} />
          {can('proof.read') && <NotificationProof id={id} />}
        </>
      )}
    </Page>
  );
}
