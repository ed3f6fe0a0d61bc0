import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { Badge, ConfirmButton, DataTable, Page, ProblemNote, useAsync, When } from '../../components/kit';
import { DETECTORS, suppressions, type Suppression } from './privacy-api';
import { Subject } from './parts';

/** A local date and time `days` from now, for a datetime-local input. */
function localIn(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000);
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}

/**
 * Suppression rules: a detector, a subject or both whose findings raise no alert until an expiry
 * (the detectors still learn from the entries). Listed for privacy.read; created and removed with
 * privacy.manage. The API refuses a rule naming neither, and an expiry in the past.
 */
export function SuppressionsView() {
  const { t } = useTranslation();
  const { can } = useSession();
  const manage = can('privacy.manage');
  const [expired, setExpired] = useState(false);
  const list = useAsync(() => suppressions.list(expired), [expired]);
  const [form, setForm] = useState({ detector: '', subject: '', reason: '', expires: localIn(30) });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone('');
    try {
      const at = new Date(form.expires);
      await suppressions.create({
        detector: form.detector || null,
        subject: form.subject.trim() || null,
        reason: form.reason,
        expiresAt: Number.isNaN(at.getTime()) ? form.expires : at.toISOString(),
      });
      setForm({ detector: '', subject: '', reason: '', expires: localIn(30) });
      setDone(t('privacy.suppressions.created'));
      list.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));

  return (
    <Page title={t('privacy.suppressions.title')} intro={t('privacy.suppressions.intro')}>
      {manage && (
        <form className="sp-privacy-form" onSubmit={(e) => void submit(e)} aria-labelledby="privacy-suppress-h">
          <h2 id="privacy-suppress-h">{t('privacy.suppressions.new')}</h2>
          <div className="sp-form-row">
            <div className="sp-field">
              <label htmlFor="privacy-sup-detector">{t('privacy.fields.detector')}</label>
              <select id="privacy-sup-detector" value={form.detector} onChange={(e) => set('detector')(e.target.value)}>
                <option value="">{t('privacy.suppressions.anyDetector')}</option>
                {DETECTORS.map((d) => (
                  <option key={d} value={d}>
                    {t(`privacy.detectors.${d}`)}
                  </option>
                ))}
              </select>
            </div>
            <div className="sp-field">
              <label htmlFor="privacy-sup-subject">{t('privacy.fields.subject')}</label>
              <input
                id="privacy-sup-subject"
                value={form.subject}
                autoComplete="off"
                spellCheck={false}
                aria-describedby="privacy-sup-subject-hint"
                onChange={(e) => set('subject')(e.target.value)}
              />
              <small id="privacy-sup-subject-hint" className="sp-intro">
                {t('privacy.suppressions.subjectHint')}
              </small>
            </div>
            <div className="sp-field">
              <label htmlFor="privacy-sup-expires">{t('privacy.fields.expiresAt')}</label>
              <input
                id="privacy-sup-expires"
                type="datetime-local"
                required
                value={form.expires}
                onChange={(e) => set('expires')(e.target.value)}
              />
            </div>
          </div>
          <div className="sp-field">
            <label htmlFor="privacy-sup-reason">{t('privacy.fields.reason')}</label>
            <textarea
              id="privacy-sup-reason"
              className="sp-privacy-text"
              rows={2}
              required
              maxLength={2000}
              value={form.reason}
              onChange={(e) => set('reason')(e.target.value)}
            />
          </div>
          <ProblemNote error={error} />
          <div className="sp-actions">
            <button type="submit" className="sp-button sp-primary" disabled={busy}>
              {t('privacy.suppressions.create')}
            </button>
          </div>
          <p role="status" className="sp-intro">
            {done}
          </p>
        </form>
      )}
      <h2>{t('privacy.suppressions.list')}</h2>
      <label className="sp-privacy-check">
        <input type="checkbox" checked={expired} onChange={(e) => setExpired(e.target.checked)} />
        <span>{t('privacy.suppressions.showExpired')}</span>
      </label>
      <ProblemNote error={list.error} />
      <DataTable<Suppression>
        caption={t('privacy.suppressions.list')}
        rows={list.data ?? []}
        rowKey={(s) => s.id}
        empty={list.loading ? t('app.loading') : t('privacy.suppressions.none')}
        columns={[
          {
            key: 'detector',
            header: t('privacy.fields.detector'),
            cell: (s) =>
              s.detector ? t(`privacy.detectors.${s.detector}`, s.detector) : t('privacy.suppressions.anyDetector'),
          },
          {
            key: 'subject',
            header: t('privacy.fields.subject'),
            cell: (s) => (s.subject ? <Subject subject={s.subject} /> : t('privacy.suppressions.anySubject')),
          },
          { key: 'reason', header: t('privacy.fields.reason'), cell: (s) => s.reason },
          {
            key: 'expires',
            header: t('privacy.fields.expiresAt'),
            cell: (s) => (
              <>
                <When at={s.expiresAt} /> {s.expired && <Badge>{t('privacy.suppressions.expired')}</Badge>}
              </>
            ),
          },
          ...(manage
            ? [
                {
                  key: 'actions',
                  header: t('privacy.fields.actions'),
                  cell: (s: Suppression) => (
                    <ConfirmButton
                      danger
                      label={t('privacy.suppressions.delete')}
                      title={t('privacy.suppressions.delete')}
                      body={t('privacy.suppressions.deleteBody')}
                      onConfirm={async () => {
                        await suppressions.remove(s.id);
                        setDone(t('privacy.suppressions.deleted'));
                        list.reload();
                      }}
                    />
                  ),
                },
              ]
            : []),
        ]}
      />
    </Page>
  );
}
