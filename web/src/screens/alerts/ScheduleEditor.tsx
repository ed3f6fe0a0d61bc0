import { useEffect, useState, type FormEvent } from 'react';
import { Link, useNavigate, useParams } from 'react-router';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { Page, useAsync } from '../../components/kit';
import { ErrorNote, useStaffNames, StaffOptions } from './common';
import { LayerEditor, layerDraftOf, layerOf, newLayer, type LayerDraft } from './LayerEditor';
import type { Schedule } from './schedule-types';

const ZONES: string[] =
  (Intl as unknown as { supportedValuesOf?: (k: string) => string[] }).supportedValuesOf?.('timeZone') ?? [];

/**
 * Create or edit a schedule: name, IANA zone, and its layers (rotations with a wall-clock hand-off
 * in that zone). Overrides stay as they are. The API validates (zone, hand-off, rotation, users).
 */
export function ScheduleEditor() {
  const { id } = useParams();
  const { t } = useTranslation();
  const navigate = useNavigate();
  const names = useStaffNames();
  const loaded = useAsync(
    () => (id ? (raw('GET', `/v1/schedules/${encodeURIComponent(id)}`) as Promise<Schedule>) : Promise.resolve(null)),
    [id],
  );
  const [name, setName] = useState('');
  const [zone, setZone] = useState(() => Intl.DateTimeFormat().resolvedOptions().timeZone);
  const [layers, setLayers] = useState<LayerDraft[]>([newLayer()]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    if (!loaded.data) return;
    setName(loaded.data.name);
    setZone(loaded.data.timeZone);
    setLayers(loaded.data.layers.map(layerDraftOf));
  }, [loaded.data]);

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    const body = { name, timeZone: zone.trim(), layers: layers.map(layerOf) };
    try {
      const r = id
        ? await raw('PUT', `/v1/schedules/${encodeURIComponent(id)}`, body)
        : await raw('POST', '/v1/schedules', body);
      navigate(`/alerts/schedules/${r.id}`);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <Page title={id ? t('alerts.schedules.editTitle', { name: loaded.data?.name ?? '' }) : t('alerts.schedules.new')}>
      <p>
        <Link to={id ? `/alerts/schedules/${id}` : '/alerts/schedules'}>{t('alerts.schedules.back')}</Link>
      </p>
      <ErrorNote error={loaded.error} />
      {id && !loaded.data ? (
        !loaded.error && <p className="sp-loading">{t('app.loading')}</p>
      ) : (
        <form onSubmit={(e) => void save(e)} noValidate>
          <div className="sp-form-row">
            <div>
              <label htmlFor="sch-name">{t('alerts.schedules.name')}</label>
              <input id="sch-name" value={name} onChange={(e) => setName(e.target.value)} />
            </div>
            <div>
              <label htmlFor="sch-zone">{t('alerts.schedules.zone')}</label>
              <input
                id="sch-zone"
                list="sch-zones"
                autoComplete="off"
                value={zone}
                onChange={(e) => setZone(e.target.value)}
              />
              <datalist id="sch-zones">
                {ZONES.map((z) => (
                  <option key={z} value={z} />
                ))}
              </datalist>
            </div>
          </div>
          <StaffOptions id="sch-staff" names={names} />
          {layers.map((l, i) => (
            <LayerEditor
              key={i}
              index={i}
              layer={l}
              onChange={(n) => setLayers((all) => all.map((x, j) => (j === i ? n : x)))}
              onRemove={() => setLayers((all) => all.filter((_, j) => j !== i))}
            />
          ))}
          <button type="button" className="sp-button" onClick={() => setLayers((all) => [...all, newLayer()])}>
            {t('alerts.schedules.addLayer')}
          </button>
          <ErrorNote error={error} />
          <div className="sp-actions">
            <button type="submit" className="sp-button sp-primary">
              {t('common.save')}
            </button>
          </div>
        </form>
      )}
    </Page>
  );
}
