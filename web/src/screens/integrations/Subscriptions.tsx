import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ConfirmButton, Badge, DataTable, Page, ProblemNote, useAsync, When, type Column } from '../../components/kit';
import { fhir, loadSubscriptions, setStatus, topicKey, type SubscriptionRow } from './fhir';
import { NewSubscription } from './NewSubscription';

const tone = (s: string) => (s === 'active' ? 'ok' : s === 'error' ? 'bad' : s === 'requested' ? 'warn' : 'neutral');

/**
 * FHIR Subscriptions of the tenant with their delivery: status (requested, active, error, off),
 * last delivery, failures in a row, events sent, the error code; pause (off), restart, delete,
 * and a form for a new rest-hook subscription.
 */
export function Subscriptions() {
  const { t } = useTranslation();
  const subs = useAsync(loadSubscriptions, []);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');

  const act = async (what: () => Promise<unknown>, message: string) => {
    setError(null);
    setDone('');
    try {
      await what();
      setDone(message);
      subs.reload();
    } catch (e) {
      setError(e);
    }
  };

  const columns: Column<SubscriptionRow>[] = [
    {
      key: 'topic',
      header: t('integrations.subscriptions.topic'),
      cell: (s) => (
        <>
          <strong>
            {t(`integrations.topics.${topicKey(String(s.resource.criteria))}`, topicKey(String(s.resource.criteria)))}
          </strong>
          <br />
          <span className="sp-integrations-id">{s.resource.reason}</span>
        </>
      ),
    },
    {
      key: 'status',
      header: t('integrations.subscriptions.status'),
      cell: (s) => (
        <Badge tone={tone(s.resource.status)}>
          <span data-testid="subscription-status">
            {t(`integrations.subscriptions.statuses.${String(s.resource.status)}`, String(s.resource.status))}
          </span>
        </Badge>
      ),
    },
    {
      key: 'endpoint',
      header: t('integrations.subscriptions.endpoint'),
      cell: (s) => <span className="sp-integrations-id">{s.resource.channel?.endpoint}</span>,
    },
    {
      key: 'last',
      header: t('integrations.subscriptions.lastDelivery'),
      cell: (s) => <When at={s.delivery?.lastDeliveryAt} />,
    },
    {
      key: 'failures',
      header: t('integrations.subscriptions.failures'),
      cell: (s) => (
        <>
          <span data-testid="subscription-failures">{s.delivery?.failures ?? '—'}</span>
          {s.delivery?.errorCode && (
            <>
              {' '}
              <code>{s.delivery.errorCode}</code>
            </>
          )}
        </>
      ),
    },
    {
      key: 'events',
      header: t('integrations.subscriptions.events'),
      cell: (s) =>
        s.delivery
          ? t('integrations.subscriptions.eventsOf', {
              sent: s.delivery.eventsSent,
              total: s.delivery.eventsSinceStart,
            })
          : '—',
    },
    {
      key: 'actions',
      header: t('integrations.actions'),
      cell: (s) => (
        <div className="sp-actions">
          {s.resource.status === 'off' || s.resource.status === 'error' ? (
            <button
              type="button"
              className="sp-button"
              onClick={() =>
                void act(() => setStatus(s.resource, 'requested'), t('integrations.subscriptions.restarted'))
              }
            >
              {t('integrations.subscriptions.restart')}
            </button>
          ) : (
            <button
              type="button"
              className="sp-button"
              onClick={() => void act(() => setStatus(s.resource, 'off'), t('integrations.subscriptions.paused'))}
            >
              {t('integrations.subscriptions.pause')}
            </button>
          )}
          <ConfirmButton
            danger
            label={t('integrations.subscriptions.delete')}
            title={t('integrations.subscriptions.deleteTitle')}
            body={t('integrations.subscriptions.deleteBody')}
            onConfirm={async () => {
              await fhir('DELETE', `/fhir/R4/Subscription/${encodeURIComponent(s.resource.id)}`);
              setDone(t('integrations.subscriptions.deleted'));
              subs.reload();
            }}
          />
        </div>
      ),
    },
  ];

  return (
    <Page
      title={t('integrations.subscriptions.title')}
      intro={t('integrations.subscriptions.intro')}
      actions={
        <button type="button" className="sp-button" onClick={subs.reload}>
          {t('common.refresh')}
        </button>
      }
    >
      <ProblemNote error={subs.error ?? error} />
      {done && <p role="status">{done}</p>}
      {subs.data && (
        <DataTable
          caption={t('integrations.subscriptions.title')}
          columns={columns}
          rows={subs.data}
          rowKey={(s) => String(s.resource.id)}
          empty={t('integrations.subscriptions.none')}
        />
      )}
      <h2>{t('integrations.subscriptions.newTitle')}</h2>
      <NewSubscription
        onCreated={() => {
          setDone(t('integrations.subscriptions.created'));
          subs.reload();
        }}
      />
    </Page>
  );
}
