import { useId } from 'react';
import { useTranslation } from 'react-i18next';
import type { Restriction } from './schedule-types';

const DAYS = [1, 2, 3, 4, 5, 6, 7];

/**
 * A layer's time windows: the layer has someone only inside them (wall-clock, in the schedule's
 * zone; an end at or before the start is the next day). No window: around the clock.
 */
export function RestrictionsEditor({
  value,
  onChange,
}: {
  value: Restriction[];
  onChange: (v: Restriction[]) => void;
}) {
  const { t, i18n } = useTranslation();
  const id = useId();
  // 2024-01-01 was a Monday: ISO weekday n is that date plus n - 1 days.
  const dayName = (n: number) =>
    new Date(Date.UTC(2024, 0, n)).toLocaleDateString(i18n.language, { weekday: 'short', timeZone: 'UTC' });
  const set = (i: number, patch: Partial<Restriction>) =>
    onChange(value.map((r, j) => (j === i ? { ...r, ...patch } : r)));
  return (
    <fieldset className="sp-alerts-plain">
      <legend className="sp-alerts-legend">{t('alerts.schedules.windows')}</legend>
      {value.length === 0 && <p className="sp-intro">{t('alerts.schedules.noWindows')}</p>}
      {value.map((r, i) => (
        <fieldset key={i} className="sp-alerts-window">
          <legend>{t('alerts.schedules.windowN', { n: i + 1 })}</legend>
          <div className="sp-alerts-radios">
            {DAYS.map((d) => (
              <label key={d} className="sp-alerts-inline">
                <input
                  type="checkbox"
                  checked={r.days?.includes(d) ?? false}
                  onChange={(e) => {
                    const days = e.target.checked
                      ? [...(r.days ?? []), d].sort()
                      : (r.days ?? []).filter((x) => x !== d);
                    set(i, { days: days.length ? days : undefined });
                  }}
                />
                {dayName(d)}
              </label>
            ))}
          </div>
          <div className="sp-form-row">
            <div>
              <label htmlFor={`${id}-${i}-from`}>{t('alerts.schedules.windowStart')}</label>
              <input
                id={`${id}-${i}-from`}
                value={r.start}
                placeholder="08:00"
                onChange={(e) => set(i, { start: e.target.value })}
              />
            </div>
            <div>
              <label htmlFor={`${id}-${i}-to`}>{t('alerts.schedules.windowEnd')}</label>
              <input
                id={`${id}-${i}-to`}
                value={r.end}
                placeholder="20:00"
                onChange={(e) => set(i, { end: e.target.value })}
              />
            </div>
          </div>
          <button type="button" className="sp-button" onClick={() => onChange(value.filter((_, j) => j !== i))}>
            {t('alerts.schedules.removeWindow', { n: i + 1 })}
          </button>
        </fieldset>
      ))}
      <button
        type="button"
        className="sp-button"
        onClick={() => onChange([...value, { start: '08:00', end: '20:00' }])}
      >
        {t('alerts.schedules.addWindow')}
      </button>
    </fieldset>
  );
}
