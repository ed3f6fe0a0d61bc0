import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { Badge, DataTable, ProblemNote, useAsync, When } from '../../components/kit';

interface ConsentState {
  channel: string;
  purpose: string;
  decision: 'permit' | 'deny';
  source: string | null;
  recordedAt: string | null;
}
interface Preferences {
  channels: Record<string, string[]>;
  language: string | null;
  quietHours: { start: string; end: string } | null;
  noTextAfter: string | null;
  updatedAt: string | null;
}

/** The consent decision per channel and purpose (staff may record a change), and the delivery preferences. */
export function ConsentsAndPreferences({ patientId }: { patientId: string }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const p = encodeURIComponent(patientId);
  const consents = useAsync(
    async () =>
      can('consent.read') ? ((await raw('GET', `/v1/patients/${p}/consents`)) as { state: ConsentState[] }) : null,
    [p],
  );
  const prefs = useAsync(
    async () => (can('patient.read') ? ((await raw('GET', `/v1/patients/${p}/preferences`)) as Preferences) : null),
    [p],
  );
  const [error, setError] = useState<unknown>(null);
  const flip = async (c: ConsentState) => {
    setError(null);
    try {
      const decision = c.decision === 'permit' ? 'deny' : 'permit';
      await raw('PUT', `/v1/patients/${p}/consents`, {
        consents: [{ channel: c.channel, purpose: c.purpose, decision }],
      });
      consents.reload();
    } catch (e) {
      setError(e);
    }
  };
  const pr = prefs.data;
  return (
    <>
      {can('consent.read') && (
        <section aria-labelledby="sp-patients-consents">
          <h3 id="sp-patients-consents">{t('patients.consents.title')}</h3>
          <ProblemNote error={consents.error ?? error} />
          {consents.data && (
            <DataTable<ConsentState>
              caption={t('patients.consents.title')}
              rows={consents.data.state}
              rowKey={(c) => `${c.channel}/${c.purpose}`}
              columns={[
                {
                  key: 'channel',
                  header: t('patients.contacts.system'),
                  cell: (c) => t(`patients.channels.${c.channel}`, c.channel),
                },
                {
                  key: 'purpose',
                  header: t('patients.consents.purpose'),
                  cell: (c) => t(`patients.purposes.${c.purpose}`, c.purpose),
                },
                {
                  key: 'decision',
                  header: t('patients.consents.decision'),
                  cell: (c) => (
                    <Badge tone={c.decision === 'permit' ? 'ok' : 'bad'}>{t(`patients.consents.${c.decision}`)}</Badge>
                  ),
                },
                {
                  key: 'source',
                  header: t('patients.consents.source'),
                  cell: (c) => c.source ?? t('patients.consents.default'),
                },
                { key: 'when', header: t('patients.consents.when'), cell: (c) => <When at={c.recordedAt} /> },
                ...(can('consent.write')
                  ? [
                      {
                        key: 'change',
                        header: t('patients.team.action'),
                        cell: (c: ConsentState) => (
                          <button type="button" className="sp-button" onClick={() => void flip(c)}>
                            {t(c.decision === 'permit' ? 'patients.consents.toDeny' : 'patients.consents.toPermit', {
                              channel: t(`patients.channels.${c.channel}`, c.channel),
                              purpose: t(`patients.purposes.${c.purpose}`, c.purpose),
                            })}
                          </button>
                        ),
                      },
                    ]
                  : []),
              ]}
            />
          )}
        </section>
      )}
      {can('patient.read') && (
        <section aria-labelledby="sp-patients-prefs">
          <h3 id="sp-patients-prefs">{t('patients.prefs.title')}</h3>
          <ProblemNote error={prefs.error} />
          {pr && (
            <dl className="sp-notifications-facts">
              <dt>{t('patients.prefs.language')}</dt>
              <dd>{pr.language ? t(`languages.${pr.language}`, pr.language) : '—'}</dd>
              <dt>{t('patients.prefs.quietHours')}</dt>
              <dd>{pr.quietHours ? `${pr.quietHours.start}–${pr.quietHours.end}` : '—'}</dd>
              <dt>{t('patients.prefs.noTextAfter')}</dt>
              <dd>{pr.noTextAfter ?? '—'}</dd>
              <dt>{t('patients.prefs.channels')}</dt>
              <dd>
                {Object.entries(pr.channels)
                  .map(([type, ch]) => `${t(`notifications.types.${type}`, type)}: ${ch.join(' → ')}`)
                  .join('; ') || '—'}
              </dd>
              <dt>{t('patients.prefs.updated')}</dt>
              <dd>
                <When at={pr.updatedAt} />
              </dd>
            </dl>
          )}
        </section>
      )}
    </>
  );
}
