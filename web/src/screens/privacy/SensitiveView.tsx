import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { KINDS, sensitivity, type Sensitive, type SensitivityKind } from './privacy-api';

/**
 * Sensitive patients (staff members, VIPs, others flagged): every access to them is reviewed by
 * the monitor. The list holds pseudonymous audit references only; flagging and clearing take the
 * patient's id, typed here and sent in the request path to the API, never put in the page's address.
 */
export function SensitiveView() {
  const { t } = useTranslation();
  const { can } = useSession();
  const manage = can('privacy.manage');
  const list = useAsync(() => sensitivity.list(), []);
  const [patientId, setPatientId] = useState('');
  const [kind, setKind] = useState<SensitivityKind>('flagged');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');

  const act = async (what: 'set' | 'clear') => {
    const id = patientId.trim();
    if (!id) return;
    setBusy(true);
    setError(null);
    setDone('');
    try {
      if (what === 'set') {
        const r = await sensitivity.set(id, kind);
        setDone(t('privacy.sensitive.flagged', { kind: t(`privacy.kinds.${r.kind}`), ref: r.patientRef }));
      } else {
        await sensitivity.clear(id);
        setDone(t('privacy.sensitive.cleared'));
      }
      setPatientId('');
      list.reload();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Page title={t('privacy.sensitive.title')} intro={t('privacy.sensitive.intro')}>
      {manage && (
        <form
          className="sp-privacy-form"
          aria-labelledby="privacy-sensitive-h"
          onSubmit={(e) => {
            e.preventDefault();
            void act('set');
          }}
        >
          <h2 id="privacy-sensitive-h">{t('privacy.sensitive.change')}</h2>
          <div className="sp-form-row">
            <div className="sp-field">
              <label htmlFor="privacy-sensitive-patient">{t('privacy.fields.patientId')}</label>
              <input
                id="privacy-sensitive-patient"
                value={patientId}
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => setPatientId(e.target.value)}
              />
            </div>
            <div className="sp-field">
              <label htmlFor="privacy-sensitive-kind">{t('privacy.fields.kind')}</label>
              <select
                id="privacy-sensitive-kind"
                value={kind}
                onChange={(e) => setKind(e.target.value as SensitivityKind)}
              >
                {KINDS.map((k) => (
                  <option key={k} value={k}>
                    {t(`privacy.kinds.${k}`)}
                  </option>
                ))}
              </select>
            </div>
          </div>
          <ProblemNote error={error} />
          <div className="sp-actions">
            <button type="submit" className="sp-button sp-primary" disabled={busy || !patientId.trim()}>
              {t('privacy.sensitive.set')}
            </button>
            <button
              type="button"
              className="sp-button"
              disabled={busy || !patientId.trim()}
              onClick={() => void act('clear')}
            >
              {t('privacy.sensitive.clear')}
            </button>
          </div>
          <p role="status" className="sp-intro">
            {done}
          </p>
        </form>
      )}
      <h2>{t('privacy.sensitive.list')}</h2>
      <ProblemNote error={list.error} />
      <DataTable<Sensitive>
        caption={t('privacy.sensitive.list')}
        rows={list.data ?? []}
        rowKey={(s) => s.patientRef}
        empty={list.loading ? t('app.loading') : t('privacy.sensitive.none')}
        columns={[
          {
            key: 'ref',
            header: t('privacy.fields.patientRef'),
            cell: (s) => <code className="sp-privacy-id">{s.patientRef}</code>,
          },
          { key: 'kind', header: t('privacy.fields.kind'), cell: (s) => t(`privacy.kinds.${s.kind}`) },
          {
            key: 'by',
            header: t('privacy.fields.setBy'),
            cell: (s) => <code className="sp-privacy-id">{s.setBy}</code>,
          },
          { key: 'at', header: t('privacy.fields.setAt'), cell: (s) => <When at={s.setAt} /> },
        ]}
      />
    </Page>
  );
}
