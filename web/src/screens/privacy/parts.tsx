import { useTranslation } from 'react-i18next';
import { Badge } from '../../components/kit';
import type { Alert } from './privacy-api';

/** A combined score (0..100) with its band in words: colour is never the only signal. */
export function ScoreBadge({ score }: { score: number }) {
  const { t } = useTranslation();
  const band = score >= 80 ? 'high' : score >= 50 ? 'medium' : 'low';
  return (
    <Badge tone={band === 'high' ? 'bad' : band === 'medium' ? 'warn' : 'neutral'}>
      {t('privacy.score', { score: Math.round(score), band: t(`privacy.band.${band}`) })}
    </Badge>
  );
}

export function StatusBadge({ alert }: { alert: Pick<Alert, 'status' | 'outcome'> }) {
  const { t } = useTranslation();
  const tone = alert.status === 'open' ? 'warn' : alert.status === 'investigating' ? 'neutral' : 'ok';
  return (
    <Badge tone={tone}>
      {t(`privacy.status.${alert.status}`)}
      {alert.outcome ? ` · ${t(`privacy.outcomes.${alert.outcome}`)}` : ''}
    </Badge>
  );
}

/** Who an alert is about: `user:<id>`, `api-key:<id>`, `client:<id>` or `ip:<address>`, kind in words. */
export function Subject({ subject }: { subject: string }) {
  const { t } = useTranslation();
  const i = subject.indexOf(':');
  const kind = i > 0 ? subject.slice(0, i) : '';
  const known = ['user', 'api-key', 'client', 'ip'].includes(kind);
  return (
    <span>
      {known && <span className="sp-privacy-kind">{t(`privacy.subjects.${kind}`)} </span>}
      <code className="sp-privacy-id">{known ? subject.slice(i + 1) : subject}</code>
    </span>
  );
}

/** The detectors' names in words (their ids stay visible for the documentation's table). */
export function DetectorList({ ids }: { ids: readonly string[] }) {
  const { t } = useTranslation();
  return (
    <ul className="sp-privacy-detectors">
      {ids.map((d) => (
        <li key={d}>{t(`privacy.detectors.${d}`, d)}</li>
      ))}
    </ul>
  );
}
