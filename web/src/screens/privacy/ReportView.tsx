import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { Page, ProblemNote } from '../../components/kit';
import { reports, type ReportAnswer, type ReportAsk } from './privacy-api';

type Scope = 'tenant' | 'user' | 'apiKey' | 'address' | 'patients';
const SCOPES: Scope[] = ['tenant', 'user', 'apiKey', 'address', 'patients'];

/** What the summary reads from report.json (the facts; the rest is for the regulator and the verifier). */
interface ReportFacts {
  window: { from: string; to: string };
  facts: {
    entries: number;
    byCategory: Record<string, number>;
    phi: { kind: string; entries: number }[];
    sentByChannel: Record<string, number>;
    signIns: { attempts: number; succeeded: number; failed: number };
    sessions: unknown[];
    /** Refused or failed attempts: they showed nothing, so their patients are not among those affected. */
    refused: { attempts: number; patientRefs: string[] };
  };
}

/** A local date and time `days` from now, for a datetime-local input: the next whole minute (the end is exclusive). */
function localIn(days: number): string {
  const d = new Date(Date.now() + days * 86_400_000 + 60_000);
  d.setSeconds(0, 0);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60_000).toISOString().slice(0, 16);
}
const iso = (local: string) => {
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? local : d.toISOString();
};

/** Offers `text` as a file (a Blob URL, revoked once the click was handled): nothing is stored. */
function download(text: string, name: string): void {
  const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 0);
}

/**
 * The breach investigation report (privacy.report): a window and at most one scope (a user, an API
 * key, an address or patient ids; none: the whole tenant) → the summary (entries, patients affected,
 * kinds of information, disclosures by channel kind, sign-ins) and report.json with its signature
 * to download, which `sealpost verify-report` checks offline. The report names patients by id: it
 * stays in this page's memory until downloaded, never in storage or the address.
 */
export function ReportView() {
  const { t } = useTranslation();
  const [form, setForm] = useState({ from: localIn(-30), to: localIn(0), scope: 'user' as Scope, value: '' });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const [answer, setAnswer] = useState<{ r: ReportAnswer; facts: ReportFacts } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setAnswer(null);
    try {
      const ask: ReportAsk = { from: iso(form.from), to: iso(form.to) };
      const v = form.value.trim();
      if (form.scope === 'patients')
        ask.patients = v
          .split(/[\s,]+/)
          .map((s) => s.trim())
          .filter(Boolean);
      else if (form.scope !== 'tenant') ask[form.scope] = v;
      const r = await reports.run(ask);
      setAnswer({ r, facts: JSON.parse(r.reportJson) as ReportFacts });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const set = (k: keyof typeof form) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  const f = answer?.facts.facts;

  return (
    <Page title={t('privacy.report.title')} intro={t('privacy.report.intro')}>
      <form className="sp-privacy-form" onSubmit={(e) => void submit(e)} aria-label={t('privacy.report.title')}>
        <div className="sp-form-row">
          <div className="sp-field">
            <label htmlFor="privacy-report-from">{t('privacy.report.from')}</label>
            <input
              id="privacy-report-from"
              type="datetime-local"
              required
              value={form.from}
              onChange={(e) => set('from')(e.target.value)}
            />
          </div>
          <div className="sp-field">
            <label htmlFor="privacy-report-to">{t('privacy.report.to')}</label>
            <input
              id="privacy-report-to"
              type="datetime-local"
              required
              value={form.to}
              onChange={(e) => set('to')(e.target.value)}
            />
          </div>
        </div>
        <div className="sp-form-row">
          <div className="sp-field">
            <label htmlFor="privacy-report-scope">{t('privacy.report.scope')}</label>
            <select id="privacy-report-scope" value={form.scope} onChange={(e) => set('scope')(e.target.value)}>
              {SCOPES.map((s) => (
                <option key={s} value={s}>
                  {t(`privacy.report.scopes.${s}`)}
                </option>
              ))}
            </select>
          </div>
          {form.scope !== 'tenant' && (
            <div className="sp-field">
              <label htmlFor="privacy-report-value">{t(`privacy.report.values.${form.scope}`)}</label>
              {form.scope === 'patients' ? (
                <textarea
                  id="privacy-report-value"
                  className="sp-privacy-text"
                  rows={3}
                  required
                  spellCheck={false}
                  aria-describedby="privacy-report-value-hint"
                  value={form.value}
                  onChange={(e) => set('value')(e.target.value)}
                />
              ) : (
                <input
                  id="privacy-report-value"
                  required
                  autoComplete="off"
                  spellCheck={false}
                  aria-describedby="privacy-report-value-hint"
                  value={form.value}
                  onChange={(e) => set('value')(e.target.value)}
                />
              )}
              <small id="privacy-report-value-hint" className="sp-intro">
                {t(`privacy.report.hints.${form.scope}`)}
              </small>
            </div>
          )}
        </div>
        <ProblemNote error={error} />
        <div className="sp-actions">
          <button type="submit" className="sp-button sp-primary" disabled={busy}>
            {t('privacy.report.run')}
          </button>
        </div>
        <p role="status" className="sp-intro">
          {busy ? t('privacy.report.running') : answer ? t('privacy.report.done') : ''}
        </p>
      </form>
      {answer && f && (
        <section aria-labelledby="privacy-report-summary" data-testid="privacy-report-summary">
          <h2 id="privacy-report-summary">{t('privacy.report.summary')}</h2>
          <dl className="sp-privacy-facts">
            <dt>{t('privacy.report.patients')}</dt>
            <dd data-testid="privacy-report-patients">{answer.r.patients}</dd>
            <dt>{t('privacy.report.entries')}</dt>
            <dd data-testid="privacy-report-entries">{answer.r.entries}</dd>
            <dt>{t('privacy.report.refused')}</dt>
            <dd data-testid="privacy-report-refused">{f?.refused?.attempts ?? 0}</dd>
            <dt>{t('privacy.report.categories')}</dt>
            <dd>
              {Object.entries(f.byCategory)
                .filter(([, n]) => n > 0)
                .map(([c, n]) => t('privacy.report.count', { what: t(`privacy.report.category.${c}`, c), count: n }))
                .join(' · ') || '—'}
            </dd>
            <dt>{t('privacy.report.kinds')}</dt>
            <dd>
              {f.phi.length ? (
                <ul className="sp-privacy-kinds" data-testid="privacy-report-kinds">
                  {f.phi.map((k) => (
                    <li key={k.kind}>{t('privacy.report.count', { what: k.kind, count: k.entries })}</li>
                  ))}
                </ul>
              ) : (
                t('privacy.report.noKinds')
              )}
            </dd>
            <dt>{t('privacy.report.sent')}</dt>
            <dd>
              {Object.entries(f.sentByChannel)
                .map(([c, n]) => t('privacy.report.count', { what: c, count: n }))
                .join(' · ') || '—'}
            </dd>
            <dt>{t('privacy.report.signIns')}</dt>
            <dd>
              {t('privacy.report.signInCounts', {
                succeeded: f.signIns.succeeded,
                failed: f.signIns.failed,
                sessions: f.sessions.length,
              })}
            </dd>
            <dt>{t('privacy.report.id')}</dt>
            <dd>
              <code className="sp-privacy-id">{answer.r.id}</code>
            </dd>
          </dl>
          <p className="sp-intro">{t('privacy.report.verify')}</p>
          <div className="sp-actions">
            <button
              type="button"
              className="sp-button sp-primary"
              onClick={() => download(answer.r.reportJson, 'report.json')}
            >
              {t('privacy.report.downloadJson')}
            </button>
            <button
              type="button"
              className="sp-button"
              onClick={() => download(`${JSON.stringify(answer.r.signature, null, 1)}\n`, 'report.sig.json')}
            >
              {t('privacy.report.downloadSig')}
            </button>
          </div>
        </section>
      )}
    </Page>
  );
}
