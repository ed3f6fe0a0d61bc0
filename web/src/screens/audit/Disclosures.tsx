import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../../app/api';
import { DataTable, Page, ProblemNote, When, type Column } from '../../components/kit';
import { DateTimeField, TextInput, toIso } from './fields';

interface Disclosure {
  index: number;
  at: string;
  actor: string;
  action: string;
  what: { type: string; id: string | null };
  deliveryId?: string;
  channel?: string;
  provider?: string;
}
interface Result {
  patientRef: string;
  from: string;
  to: string;
  items: Disclosure[];
  nextCursor: string | null;
}

/**
 * The accounting of disclosures of one patient (HIPAA 45 CFR 164.528): the patient's id is typed
 * here and stays in this component (never in the address bar or storage); the API answers with
 * the pseudonymous reference, the period (six years by default) and who received or saw what.
 */
export function Disclosures() {
  const { t } = useTranslation();
  const [form, setForm] = useState({ patientId: '', from: '', to: '' });
  const [asked, setAsked] = useState<{ id: string; from?: string; to?: string } | null>(null);
  const [result, setResult] = useState<Result | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const load = async (q: { id: string; from?: string; to?: string }, cursor?: string) => {
    setBusy(true);
    setError(null);
    try {
      const { id, ...range } = q;
      const page = (await ok(
        api.GET('/v1/patients/{id}/disclosures', {
          params: { path: { id }, query: { ...range, limit: 100, ...(cursor ? { cursor } : {}) } },
        }),
      )) as Result;
      setResult((old) => (cursor && old ? { ...page, items: [...old.items, ...page.items] } : page));
      setAsked(q);
    } catch (e) {
      setError(e);
      if (!cursor) setResult(null);
    } finally {
      setBusy(false);
    }
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    void load({
      id: form.patientId.trim(),
      ...(form.from ? { from: toIso(form.from) } : {}),
      ...(form.to ? { to: toIso(form.to) } : {}),
    });
  };

  const columns: Column<Disclosure>[] = [
    { key: 'at', header: t('audit.fields.at'), cell: (d) => <When at={d.at} /> },
    { key: 'action', header: t('audit.fields.action'), cell: (d) => <code>{d.action}</code> },
    { key: 'actor', header: t('audit.disclosures.who'), cell: (d) => <span className="sp-audit-hash">{d.actor}</span> },
    {
      key: 'what',
      header: t('audit.disclosures.what'),
      cell: (d) => <span className="sp-audit-hash">{`${d.what.type} ${d.what.id ?? ''}`}</span>,
    },
    {
      key: 'channel',
      header: t('audit.disclosures.channel'),
      cell: (d) => [d.channel, d.provider].filter(Boolean).join(' · ') || '—',
    },
  ];

  return (
    <Page title={t('audit.disclosures.title')} intro={t('audit.disclosures.intro')}>
      <form onSubmit={submit} aria-label={t('audit.disclosures.title')}>
        <div className="sp-form-row">
          <TextInput
            id="disclosure-patient"
            label={t('audit.fields.patientId')}
            value={form.patientId}
            onChange={(v) => setForm((f) => ({ ...f, patientId: v }))}
            hint={t('audit.disclosures.patientHint')}
          />
        </div>
        <div className="sp-form-row">
          <DateTimeField
            id="disclosure-from"
            label={t('audit.fields.from')}
            value={form.from}
            onChange={(v) => setForm((f) => ({ ...f, from: v }))}
          />
          <DateTimeField
            id="disclosure-to"
            label={t('audit.fields.to')}
            value={form.to}
            onChange={(v) => setForm((f) => ({ ...f, to: v }))}
          />
        </div>
        <div className="sp-actions">
          <button type="submit" className="sp-button sp-primary" disabled={busy || !form.patientId.trim()}>
            {t('audit.disclosures.show')}
          </button>
        </div>
      </form>
      <ProblemNote error={error} />
      {busy && <p role="status">{t('app.loading')}</p>}
      {result && (
        <>
          <p data-testid="disclosure-period">
            {t('audit.disclosures.period')} <When at={result.from} /> – <When at={result.to} />
          </p>
          <p className="sp-intro">
            {t('audit.disclosures.ref')} <span className="sp-audit-hash">{result.patientRef}</span>
          </p>
          <DataTable
            caption={t('audit.disclosures.title')}
            columns={columns}
            rows={result.items}
            rowKey={(d) => String(d.index)}
            empty={t('audit.disclosures.none')}
          />
          {result.nextCursor && asked && (
            <div className="sp-actions">
              <button
                type="button"
                className="sp-button"
                disabled={busy}
                onClick={() => void load(asked, result.nextCursor!)}
              >
                {t('common.more')}
              </button>
            </div>
          )}
        </>
      )}
    </Page>
  );
}
