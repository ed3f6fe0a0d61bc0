import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, Badge, Page, useAsync, When } from '../../components/kit';
import { ErrorNote, nameOf, tone, useStaffNames } from './common';
import { ForwardForm } from './ForwardForm';
import type { AlertRow } from './OpenAlerts';

interface Detail extends AlertRow {
  details?: string;
  timeline: { at: string; kind: string; actor: string; data: Record<string, unknown> }[];
}

/**
 * One alert: its PHI-free summary and state, the details when the API shows them (recipients and
 * the care team; the API audits that read), the timeline, and the answers this person may give.
 */
export function AlertDetail() {
  const { id = '' } = useParams();
  const { t } = useTranslation();
  const { can } = useSession();
  const names = useStaffNames();
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const alert = useAsync(() => raw('GET', `/v1/alerts/${encodeURIComponent(id)}`) as Promise<Detail>, [id]);
  const a = alert.data;
  const act = async (action: string, body?: unknown) => {
    setError(null);
    setDone('');
    try {
      await raw('POST', `/v1/alerts/${encodeURIComponent(id)}/${action}`, body ?? {});
      setDone(t(`alerts.detail.done.${action}`));
      alert.reload();
    } catch (e) {
      setError(e);
      throw e;
    }
  };
  const open = a && !['resolved', 'expired'].includes(a.state);
  const escalating = a && ['triggered', 'notified', 'escalated'].includes(a.state);
  return (
    <Page title={a?.summary ?? t('alerts.detail.title')}>
      <p>
        <Link to="/alerts/open">{t('alerts.detail.back')}</Link>
      </p>
      <ErrorNote error={alert.error} />
      {a && (
        <>
          <dl className="sp-alerts-facts">
            <dt>{t('alerts.fields.state')}</dt>
            <dd>
              <Badge tone={tone(a.state)}>
                <span data-testid="alert-state">{t(`alerts.state.${a.state}`)}</span>
              </Badge>
            </dd>
            <dt>{t('alerts.fields.priority')}</dt>
            <dd>{t(`alerts.priority.${a.priority}`)}</dd>
            <dt>{t('alerts.fields.target')}</dt>
            <dd>
              <code>{a.target}</code>
            </dd>
            <dt>{t('alerts.fields.raised')}</dt>
            <dd>
              <When at={a.createdAt} /> ({t('alerts.detail.times', { count: a.count })})
            </dd>
            {a.source && (
              <>
                <dt>{t('alerts.fields.source')}</dt>
                <dd>{a.source}</dd>
              </>
            )}
            {a.acknowledgedBy && (
              <>
                <dt>{t('alerts.fields.acknowledged')}</dt>
                <dd>
                  {nameOf(names, a.acknowledgedBy)} · <When at={a.acknowledgedAt} />
                </dd>
              </>
            )}
          </dl>
          <h2>{t('alerts.detail.details')}</h2>
          {a.details === undefined ? (
            <p className="sp-intro">{t('alerts.detail.noDetails')}</p>
          ) : (
            <p className="sp-alerts-details">{a.details}</p>
          )}
          {done && <p role="status">{done}</p>}
          <ErrorNote error={error} />
          {can('alert.respond') && open && (
            <div className="sp-actions">
              {a.state !== 'acknowledged' && (
                <button
                  type="button"
                  className="sp-button sp-primary"
                  onClick={() => void act('acknowledge').catch(() => undefined)}
                >
                  {t('alerts.detail.acknowledge')}
                </button>
              )}
              {escalating && (
                <button type="button" className="sp-button" onClick={() => void act('decline').catch(() => undefined)}>
                  {t('alerts.detail.decline')}
                </button>
              )}
              <ConfirmButton
                label={t('alerts.detail.resolve')}
                title={t('alerts.detail.resolveTitle')}
                body={t('alerts.detail.resolveBody')}
                onConfirm={() => act('resolve')}
              />
            </div>
          )}
          {can('alert.respond') && open && (
            <ForwardForm names={names} onForward={(target) => act('forward', { target })} />
          )}
          <h2>{t('alerts.detail.timeline')}</h2>
          <ol className="sp-alerts-timeline">
            {a.timeline.map((e, i) => (
              <li key={i}>
                <When at={e.at} /> — <strong>{t(`alerts.event.${e.kind}`, { defaultValue: e.kind })}</strong>
                {Array.isArray(e.data.recipients) && e.data.recipients.length > 0 && (
                  <> · {(e.data.recipients as string[]).map((r) => nameOf(names, r)).join(', ')}</>
                )}
                {typeof e.data.userId === 'string' && <> · {nameOf(names, e.data.userId)}</>}
                {typeof e.data.target === 'string' && (
                  <>
                    {' '}
                    → <code>{e.data.target}</code>
                  </>
                )}
              </li>
            ))}
          </ol>
        </>
      )}
    </Page>
  );
}
