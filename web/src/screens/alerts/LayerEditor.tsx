import { useId } from 'react';
import { useTranslation } from 'react-i18next';
import type { Layer } from './schedule-types';
import { splitList } from './policy-types';
import { RestrictionsEditor } from './RestrictionsEditor';

/** A layer as the editor holds it: texts as typed. */
export interface LayerDraft {
  name: string;
  userIds: string;
  kind: Layer['kind'];
  shiftHours: string;
  rrule: string;
  handoffTime: string;
  startDate: string;
  restrictions?: Layer['restrictions'];
}

export const newLayer = (): LayerDraft => ({
  name: '',
  userIds: '',
  kind: 'daily',
  shiftHours: '12',
  rrule: '',
  handoffTime: '08:00',
  startDate: new Date().toISOString().slice(0, 10),
});

export const layerDraftOf = (l: Layer): LayerDraft => ({
  name: l.name ?? '',
  userIds: l.userIds.join(', '),
  kind: l.kind,
  shiftHours: l.shiftHours === undefined ? '' : String(l.shiftHours),
  rrule: l.rrule ?? '',
  handoffTime: l.handoffTime,
  startDate: l.startDate,
  restrictions: l.restrictions,
});

/** The API's layer; the API checks the formats and names what it refuses. */
export function layerOf(d: LayerDraft): Layer {
  return {
    ...(d.name.trim() ? { name: d.name.trim() } : {}),
    userIds: splitList(d.userIds),
    kind: d.kind,
    ...(d.kind === 'custom' && d.rrule.trim() ? { rrule: d.rrule.trim() } : {}),
    ...(d.kind === 'custom' && d.shiftHours.trim() ? { shiftHours: Number(d.shiftHours) } : {}),
    handoffTime: d.handoffTime,
    startDate: d.startDate,
    ...(d.restrictions?.length ? { restrictions: d.restrictions } : {}),
  };
}

/** One layer: a rotation of people with a hand-off time in the schedule's zone. */
export function LayerEditor({
  index,
  layer,
  onChange,
  onRemove,
}: {
  index: number;
  layer: LayerDraft;
  onChange: (l: LayerDraft) => void;
  onRemove: () => void;
}) {
  const { t } = useTranslation();
  const id = useId();
  const set = (patch: Partial<LayerDraft>) => onChange({ ...layer, ...patch });
  return (
    <fieldset className="sp-alerts-step">
      <legend>{t('alerts.schedules.layerN', { n: index + 1 })}</legend>
      <div className="sp-form-row">
        <div>
          <label htmlFor={`${id}-name`}>{t('alerts.schedules.layerName')}</label>
          <input id={`${id}-name`} value={layer.name} onChange={(e) => set({ name: e.target.value })} />
        </div>
        <div>
          <label htmlFor={`${id}-kind`}>{t('alerts.schedules.rotation')}</label>
          <select id={`${id}-kind`} value={layer.kind} onChange={(e) => set({ kind: e.target.value as Layer['kind'] })}>
            {(['daily', 'weekly', 'custom'] as const).map((k) => (
              <option key={k} value={k}>
                {t(`alerts.rotation.${k}`)}
              </option>
            ))}
          </select>
        </div>
      </div>
      <label htmlFor={`${id}-users`}>{t('alerts.schedules.userIds')}</label>
      <input
        id={`${id}-users`}
        list="sch-staff"
        autoComplete="off"
        value={layer.userIds}
        onChange={(e) => set({ userIds: e.target.value })}
      />
      <div className="sp-form-row">
        <div>
          <label htmlFor={`${id}-handoff`}>{t('alerts.schedules.handoff')}</label>
          <input
            id={`${id}-handoff`}
            value={layer.handoffTime}
            placeholder="08:00"
            onChange={(e) => set({ handoffTime: e.target.value })}
          />
        </div>
        <div>
          <label htmlFor={`${id}-start`}>{t('alerts.schedules.startDate')}</label>
          <input
            id={`${id}-start`}
            type="date"
            value={layer.startDate}
            onChange={(e) => set({ startDate: e.target.value })}
          />
        </div>
      </div>
      {layer.kind === 'custom' && (
        <div className="sp-form-row">
          <div>
            <label htmlFor={`${id}-hours`}>{t('alerts.schedules.shiftHours')}</label>
            <input
              id={`${id}-hours`}
              inputMode="numeric"
              value={layer.shiftHours}
              onChange={(e) => set({ shiftHours: e.target.value })}
            />
          </div>
          <div>
            <label htmlFor={`${id}-rrule`}>{t('alerts.schedules.rrule')}</label>
            <input
              id={`${id}-rrule`}
              value={layer.rrule}
              placeholder="FREQ=WEEKLY;BYDAY=MO,TH"
              onChange={(e) => set({ rrule: e.target.value })}
            />
          </div>
        </div>
      )}
      <RestrictionsEditor value={layer.restrictions ?? []} onChange={(restrictions) => set({ restrictions })} />
      <button type="button" className="sp-button" onClick={onRemove}>
        {t('alerts.schedules.removeLayer', { n: index + 1 })}
      </button>
    </fieldset>
  );
}
