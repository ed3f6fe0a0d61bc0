import { useId } from 'react';
import { useTranslation } from 'react-i18next';
import { CHANNELS, type StepDraft } from './policy-types';

/** One escalation step: whom to notify, on which channels, how often, and how long to wait. */
export function StepEditor({
  index,
  step,
  high,
  onChange,
  onRemove,
}: {
  index: number;
  /** A step of the rule set for priority high. */
  high?: boolean;
  step: StepDraft;
  onChange: (s: StepDraft) => void;
  onRemove?: () => void;
}) {
  const { t } = useTranslation();
  const id = useId();
  const set = (patch: Partial<StepDraft>) => onChange({ ...step, ...patch });
  return (
    <fieldset className="sp-alerts-step">
      <legend>{t(high ? 'alerts.policies.highStep' : 'alerts.policies.step', { n: index + 1 })}</legend>
      <label htmlFor={`${id}-targets`}>{t('alerts.policies.targets')}</label>
      <input id={`${id}-targets`} value={step.targets} onChange={(e) => set({ targets: e.target.value })} />
      <fieldset className="sp-alerts-plain">
        <legend className="sp-alerts-legend">{t('alerts.policies.channels')}</legend>
        <div className="sp-alerts-radios">
          {CHANNELS.map((c) => (
            <label key={c} className="sp-alerts-inline">
              <input
                type="checkbox"
                checked={step.channels.includes(c)}
                onChange={(e) =>
                  set({ channels: e.target.checked ? [...step.channels, c] : step.channels.filter((x) => x !== c) })
                }
              />
              {t(`alerts.channel.${c}`)}
            </label>
          ))}
        </div>
      </fieldset>
      <div className="sp-form-row">
        <div>
          <label htmlFor={`${id}-wait`}>{t('alerts.policies.waitMinutes')}</label>
          <input
            id={`${id}-wait`}
            inputMode="decimal"
            value={step.waitMinutes}
            onChange={(e) => set({ waitMinutes: e.target.value })}
          />
        </div>
        <div>
          <label htmlFor={`${id}-times`}>{t('alerts.policies.repeatTimes')}</label>
          <input
            id={`${id}-times`}
            inputMode="numeric"
            value={step.repeatTimes}
            onChange={(e) => set({ repeatTimes: e.target.value })}
          />
        </div>
        <div>
          <label htmlFor={`${id}-every`}>{t('alerts.policies.repeatMinutes')}</label>
          <input
            id={`${id}-every`}
            inputMode="decimal"
            value={step.repeatMinutes}
            onChange={(e) => set({ repeatMinutes: e.target.value })}
          />
        </div>
      </div>
      {onRemove && (
        <button type="button" className="sp-button" onClick={onRemove}>
          {t(high ? 'alerts.policies.removeHighStep' : 'alerts.policies.removeStep', { n: index + 1 })}
        </button>
      )}
    </fieldset>
  );
}
