import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { Badge, DataTable, ProblemNote, useAsync } from '../../components/kit';

interface Masked {
  id: string;
  system: string;
  rank: number;
  masked: string;
  optedOut: boolean;
}

/**
 * Contact points as the server masks them; "Reveal" asks the server for one in the clear, which
 * checks the relationship and puts the access on the audit log. Revealed values live in this
 * component's memory only.
 */
export function ContactPoints({ patientId }: { patientId: string }) {
  const { t } = useTranslation();
  const list = useAsync(
    () => raw('GET', `/v1/patients/${encodeURIComponent(patientId)}/contact-points`) as Promise<{ items: Masked[] }>,
    [patientId],
  );
  const [shown, setShown] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>(null);
  const reveal = async (c: Masked) => {
    setError(null);
    try {
      const r = await raw(
        'POST',
        `/v1/patients/${encodeURIComponent(patientId)}/contact-points/${encodeURIComponent(c.id)}/reveal`,
      );
      setShown((s) => ({ ...s, [c.id]: r.value }));
    } catch (e) {
      setError(e);
    }
  };
  return (
    <section aria-labelledby="sp-patients-contacts">
      <h3 id="sp-patients-contacts">{t('patients.contacts.title')}</h3>
      <p className="sp-intro">{t('patients.contacts.hint')}</p>
      <ProblemNote error={list.error ?? error} />
      {list.data && (
        <DataTable<Masked>
          caption={t('patients.contacts.title')}
          rows={list.data.items}
          rowKey={(c) => c.id}
          columns={[
            {
              key: 'system',
              header: t('patients.contacts.system'),
              cell: (c) => t(`patients.channels.${c.system}`, c.system),
            },
            {
              key: 'value',
              header: t('patients.contacts.value'),
              cell: (c) =>
                shown[c.id] ? (
                  <span className="sp-patients-revealed">{shown[c.id]}</span>
                ) : (
                  <span>
                    <span className="sp-visually-hidden">{t('patients.contacts.masked')} </span>
                    {c.masked}
                  </span>
                ),
            },
            {
              key: 'state',
              header: t('patients.contacts.state'),
              cell: (c) => (c.optedOut ? <Badge tone="warn">{t('patients.contacts.optedOut')}</Badge> : '—'),
            },
            {
              key: 'reveal',
              header: t('patients.contacts.action'),
              cell: (c) =>
                shown[c.id] ? (
                  t('patients.contacts.revealed')
                ) : (
                  <button
                    type="button"
                    className="sp-button"
                    aria-label={t('patients.contacts.revealOne', {
                      kind: t(`patients.channels.${c.system}`, c.system),
                      rank: c.rank,
                    })}
                    onClick={() => void reveal(c)}
                  >
                    {t('patients.contacts.reveal')}
                  </button>
                ),
            },
          ]}
        />
      )}
    </section>
  );
}
