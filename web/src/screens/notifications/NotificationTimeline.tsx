import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { Badge, ProblemNote, useAsync, When } from '../../components/kit';
import { auditTrail, type AuditItem } from './notification-api';

/** PHI-free details worth a person's eye: channels, error codes, the delivery concerned. */
function detailLine(e: AuditItem): string {
  const d = e.details ?? {};
  return ['channel', 'code', 'errorCode', 'error', 'provider', 'reason']
    .filter((k) => typeof d[k] === 'string' || typeof d[k] === 'number')
    .map((k) => `${k}: ${d[k]}`)
    .join(' · ');
}

/** Every audit entry about the notification and its deliveries, oldest first, with its log index. */
export function NotificationTimeline({ id, version }: { id: string; version: string }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const trail = useAsync(() => auditTrail(id), [id, version]);
  return (
    <section aria-labelledby="sp-notif-timeline">
      <h2 id="sp-notif-timeline">{t('notifications.timeline')}</h2>
      <ProblemNote error={trail.error} />
      <ol className="sp-notifications-timeline">
        {(trail.data?.items ?? []).map((e) => (
          <li key={e.index}>
            <When at={e.at} /> <strong>{t(`notifications.actions.${e.action}`, e.action)}</strong>{' '}
            {e.outcome !== 'success' && <Badge tone="bad">{e.outcome}</Badge>}
            <span className="sp-notifications-meta">
              {e.target?.type === 'delivery' && `${t('notifications.delivery')} ${e.target.id?.slice(-8)} · `}
              {detailLine(e)} {detailLine(e) && '· '}
              {t('notifications.by')} {e.actor} ·{' '}
              {can('audit.read') ? (
                <Link to={`/audit/entries/${e.index}`}>{t('notifications.entry', { index: e.index })}</Link>
              ) : (
                t('notifications.entry', { index: e.index })
              )}
            </span>
          </li>
        ))}
      </ol>
      {trail.data && !trail.data.items.length && <p className="sp-empty">{t('common.none')}</p>}
    </section>
  );
}
