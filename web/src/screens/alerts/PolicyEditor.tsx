import { useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, Page, useAsync } from '../../components/kit';
import { ErrorNote } from './common';
import { StepEditor } from './StepEditor';
import { draftOf, emptyStep, splitList, stepOf, type Policy, type StepDraft } from './policy-types';

/**
 * Create or edit an escalation policy: its steps (targets, channels, wait, repeats) and fallback
 * targets. The API validates everything (and checks each target exists); its refusal is shown as is.
 * People without alert.manage see the policy read-only.
 */
export function PolicyEditor() {
  const { id } = useParams();
  const { t } = useTranslation();
  const { can } = useSession();
  const navigate = useNavigate();
  const manage = can('alert.manage');
  const loaded = useAsync(
    () =>
      id ? (raw('GET', `/v1/escalation-policies/${encodeURIComponent(id)}`) as Promise<Policy>) : Promise.resolve(null),
    [id],
  );
  const [name, setName] = useState('');
  const [isDefault, setIsDefault] = useState(false);
  const [steps, setSteps] = useState<StepDraft[]>([emptyStep()]);
  const [highSteps, setHighSteps] = useState<StepDraft[]>([]);
  const [fallback, setFallback] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const p = loaded.data;
  useEffect(() => {
    if (!p) return;
    setName(p.name);
    setIsDefault(p.isDefault);
    setSteps(p.steps.map(draftOf));
    setHighSteps((p.highSteps ?? []).map(draftOf));
    setFallback((p.fallbackTargets ?? []).join(', '));
  }, [p]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    const body = {
      name,
      isDefault,
      steps: steps.map(stepOf),
      ...(highSteps.length ? { highSteps: highSteps.map(stepOf) } : {}),
      ...(fallback.trim() ? { fallbackTargets: splitList(fallback) } : {}),
    };
    try {
      const r = id
        ? await raw('PUT', `/v1/escalation-policies/${encodeURIComponent(id)}`, body)
        : await raw('POST', '/v1/escalation-policies', body);
      setSaved(true);
      if (!id) navigate(`/alerts/policies/${r.id}`, { replace: true });
      else loaded.reload();
    } catch (err) {
      setError(err);
    }
  };

  const title = id ? (p?.name ?? t('alerts.policies.title')) : t('alerts.policies.new');
  return (
    <Page title={title} intro={t('alerts.policies.editIntro')}>
      <p>
        <Link to="/alerts/policies">{t('alerts.policies.back')}</Link>
      </p>
      <ErrorNote error={loaded.error} />
      {id && !loaded.data ? (
        !loaded.error && <p className="sp-loading">{t('app.loading')}</p>
      ) : (
        <form onSubmit={(e) => void save(e)} noValidate>
          <fieldset disabled={!manage} className="sp-alerts-plain">
            <label htmlFor="policy-name">{t('alerts.policies.name')}</label>
            <input id="policy-name" value={name} onChange={(e) => setName(e.target.value)} required />
            <label className="sp-alerts-inline">
              <input type="checkbox" checked={isDefault} onChange={(e) => setIsDefault(e.target.checked)} />
              {t('alerts.policies.makeDefault')}
            </label>
            {steps.map((s, i) => (
              <StepEditor
                key={i}
                index={i}
                step={s}
                onChange={(n) => setSteps((all) => all.map((x, j) => (j === i ? n : x)))}
                onRemove={
                  manage && steps.length > 1 ? () => setSteps((all) => all.filter((_, j) => j !== i)) : undefined
                }
              />
            ))}
            {manage && (
              <button type="button" className="sp-button" onClick={() => setSteps((all) => [...all, emptyStep()])}>
                {t('alerts.policies.addStep')}
              </button>
            )}
            <h2>{t('alerts.policies.highTitle')}</h2>
            <p className="sp-intro">{t('alerts.policies.highIntro')}</p>
            {highSteps.map((s, i) => (
              <StepEditor
                key={i}
                index={i}
                step={s}
                high
                onChange={(n) => setHighSteps((all) => all.map((x, j) => (j === i ? n : x)))}
                onRemove={manage ? () => setHighSteps((all) => all.filter((_, j) => j !== i)) : undefined}
              />
            ))}
            {manage && (
              <button type="button" className="sp-button" onClick={() => setHighSteps((all) => [...all, emptyStep()])}>
                {t('alerts.policies.addHighStep')}
              </button>
            )}
            <label htmlFor="policy-fallback">{t('alerts.policies.fallback')}</label>
            <input id="policy-fallback" value={fallback} onChange={(e) => setFallback(e.target.value)} />
            <p className="sp-intro">{t('alerts.policies.targetHelp')}</p>
          </fieldset>
          <ErrorNote error={error} />
          {saved && <p role="status">{t('common.saved')}</p>}
          {manage && (
            <div className="sp-actions">
              <button type="submit" className="sp-button sp-primary">
                {t('common.save')}
              </button>
              {id && (
                <ConfirmButton
                  danger
                  label={t('alerts.policies.delete')}
                  title={t('alerts.policies.deleteTitle')}
                  body={t('alerts.policies.deleteBody')}
                  onConfirm={async () => {
                    await raw('DELETE', `/v1/escalation-policies/${encodeURIComponent(id)}`);
                    navigate('/alerts/policies');
                  }}
                />
              )}
            </div>
          )}
        </form>
      )}
    </Page>
  );
}
