import { useState } from 'react';
import { Link, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../../app/api';
import { useSession } from '../../app/session';
import { Page, ProblemNote, useAsync, When } from '../../components/kit';
import { latestNote, loadVerifierKey, proveEntry } from './proofs';
import { Verdict } from './Verdict';

/**
 * One audit entry: its fields, its canonical JSON (the leaf data), and its inclusion proof in the
 * latest signed checkpoint, verified in this browser step by step. An entry no checkpoint covers
 * yet says so; a person holding audit.checkpoint may sign one now.
 */
export function AuditEntry() {
  const { t } = useTranslation();
  const { can } = useSession();
  const index = Number(useParams().index);
  const [signError, setSignError] = useState<unknown>(null);
  const [signed, setSigned] = useState<number | null>(null);
  const state = useAsync(async () => {
    const e = await ok(api.GET('/v1/audit/entries/{index}', { params: { path: { index: String(index) } } }));
    const [{ vkey }, note] = await Promise.all([loadVerifierKey(), latestNote()]);
    return { e, vkey, note, proof: await proveEntry(index, e.entry, e.leafHash, note, vkey) };
  }, [index]);
  const d = state.data;
  const fields = d ? (JSON.parse(d.e.entry) as Record<string, unknown>) : null;

  const sign = async () => {
    setSignError(null);
    try {
      setSigned((await ok(api.POST('/v1/audit/checkpoints'))).size);
      state.reload();
    } catch (e) {
      setSignError(e);
    }
  };

  return (
    <Page title={t('audit.entry.title', { index })} intro={t('audit.entry.intro')}>
      <p>
        <Link to="/audit/search">{t('audit.entry.back')}</Link>
      </p>
      <ProblemNote error={state.error} />
      {state.loading && !d && <p role="status">{t('app.loading')}</p>}
      {d && fields && (
        <>
          <dl className="sp-audit-facts">
            <dt>{t('audit.fields.at')}</dt>
            <dd>
              <When at={String(fields.at)} />
            </dd>
            <dt>{t('audit.fields.action')}</dt>
            <dd>
              <code>{String(fields.action)}</code>
            </dd>
            <dt>{t('audit.fields.actor')}</dt>
            <dd className="sp-audit-hash">{String(fields.actor)}</dd>
            <dt>{t('audit.fields.outcome')}</dt>
            <dd>{t(`audit.outcome.${String(fields.outcome)}`, String(fields.outcome))}</dd>
            <dt>{t('audit.fields.leafHash')}</dt>
            <dd className="sp-audit-hash">{d.e.leafHash}</dd>
          </dl>
          <h2>{t('audit.entry.canonical')}</h2>
          <pre className="sp-audit-code" data-testid="audit-entry-json">
            {d.e.entry}
          </pre>
          <h2>{t('audit.entry.proof')}</h2>
          <ol className="sp-audit-steps" data-testid="audit-proof-steps">
            <li>
              <Verdict ok={d.proof.leafMatches} label={t('audit.entry.leaf')} />
            </li>
            <li>
              <Verdict
                ok={
                  d.proof.checkpoint
                    ? d.proof.checkpoint.signature === 'unsupported'
                      ? null
                      : d.proof.checkpoint.signature === 'valid'
                    : false
                }
                label={
                  d.proof.checkpoint?.signature === 'unsupported'
                    ? t('audit.entry.signatureUnsupported')
                    : t('audit.entry.signature', { size: d.proof.checkpoint?.size ?? '?' })
                }
              />
            </li>
            <li>
              {d.proof.inclusion ? (
                <Verdict
                  ok={d.proof.inclusion.verified}
                  label={t('audit.entry.inclusion', {
                    size: d.proof.inclusion.size,
                    steps: d.proof.inclusion.path.length,
                  })}
                  testId="audit-inclusion"
                />
              ) : (
                <Verdict ok={null} label={t('audit.entry.notCovered')} testId="audit-inclusion" />
              )}
            </li>
          </ol>
          {!d.proof.inclusion && can('audit.checkpoint') && (
            <div className="sp-actions">
              <button type="button" className="sp-button sp-primary" onClick={() => void sign()}>
                {t('audit.checkpoints.sign')}
              </button>
            </div>
          )}
          {!d.proof.inclusion && signed !== null && <p role="status">{t('audit.entry.notYet', { size: signed })}</p>}
          <ProblemNote error={signError} />
          {d.proof.inclusion && (
            <>
              <h3>{t('audit.entry.path')}</h3>
              <ol className="sp-audit-steps">
                {d.proof.inclusion.path.map((h, i) => (
                  <li key={i} className="sp-audit-hash">
                    {h}
                  </li>
                ))}
              </ol>
            </>
          )}
          <h3>{t('audit.entry.note')}</h3>
          <pre className="sp-audit-code">{d.note}</pre>
          <p className="sp-intro">{t('audit.entry.keyIntro')}</p>
          <pre className="sp-audit-code">{d.vkey}</pre>
        </>
      )}
    </Page>
  );
}
