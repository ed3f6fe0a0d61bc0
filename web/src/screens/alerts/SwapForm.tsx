import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { ErrorNote, instantOf, StaffOptions } from './common';

type Half = { userId: string; start: string; end: string };
const EMPTY: Half = { userId: '', start: '', end: '' };

/**
 * Two people exchange shifts (`POST /v1/schedules/{id}/swaps`): B takes A's range and A takes B's,
 * as two linked overrides. Times are wall-clock in the schedule's zone, sent as instants.
 */
export function SwapForm(props: {
  scheduleId: string;
  zone: string;
  names: Map<string, string>;
  onChange: () => void;
}) {
  const { scheduleId, zone, names, onChange } = props;
  const { t } = useTranslation();
  const [a, setA] = useState<Half>(EMPTY);
  const [b, setB] = useState<Half>(EMPTY);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState(false);
  const span = (h: Half) => ({
    userId: h.userId.trim(),
    start: h.start ? instantOf(zone, h.start) : '',
    end: h.end ? instantOf(zone, h.end) : '',
  });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setDone(false);
    try {
      await raw('POST', `/v1/schedules/${encodeURIComponent(scheduleId)}/swaps`, { a: span(a), b: span(b) });
      setA(EMPTY);
      setB(EMPTY);
      setDone(true);
      onChange();
    } catch (err) {
      setError(err);
    }
  };
  const half = (key: 'a' | 'b', h: Half, set: (h: Half) => void) => (
    <fieldset className="sp-alerts-swap-half">
      <legend>{t(`alerts.swaps.${key}`)}</legend>
      <div className="sp-form-row">
        <div>
          <label htmlFor={`swap-${key}-user`}>{t('alerts.overrides.userId')}</label>
          <input
            id={`swap-${key}-user`}
            list="swap-staff"
            autoComplete="off"
            value={h.userId}
            onChange={(e) => set({ ...h, userId: e.target.value })}
          />
        </div>
        <div>
          <label htmlFor={`swap-${key}-start`}>{t('alerts.overrides.start')}</label>
          <input
            id={`swap-${key}-start`}
            type="datetime-local"
            value={h.start}
            onChange={(e) => set({ ...h, start: e.target.value })}
          />
        </div>
        <div>
          <label htmlFor={`swap-${key}-end`}>{t('alerts.overrides.end')}</label>
          <input
            id={`swap-${key}-end`}
            type="datetime-local"
            value={h.end}
            onChange={(e) => set({ ...h, end: e.target.value })}
          />
        </div>
      </div>
    </fieldset>
  );
  return (
    <form onSubmit={(e) => void submit(e)} className="sp-alerts-form" noValidate aria-labelledby="swap-heading">
      <h3 id="swap-heading">{t('alerts.swaps.title')}</h3>
      <p className="sp-intro">{t('alerts.swaps.intro', { zone })}</p>
      <StaffOptions id="swap-staff" names={names} />
      {half('a', a, setA)}
      {half('b', b, setB)}
      <ErrorNote error={error} />
      {done && <p role="status">{t('alerts.swaps.done')}</p>}
      <div className="sp-actions">
        <button type="submit" className="sp-button sp-primary">
          {t('alerts.swaps.submit')}
        </button>
      </div>
    </form>
  );
}
