import { useEffect, useState, type FormEvent } from 'react';
import { Link } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from '../../app/session';
import { Badge, DataTable, Page, ProblemNote, When } from '../../components/kit';
import { PatientLookup } from '../patients/PatientLookup';
import {
  searchNotifications,
  STATUSES,
  statusTone,
  TYPES,
  typePermission,
  type Filter,
  type ListItem,
} from './notification-api';

export interface SearchState {
  filter: Filter;
  /** The opaque id of the patient found by identifier (the identifier itself is not kept). */
  patientLabel: string | null;
}

/** Search by patient (identifier → opaque id), type, status and creation day; newest first, page by page. */
export function NotificationSearch({ state, onState }: { state: SearchState; onState: (s: SearchState) => void }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const [draft, setDraft] = useState<Filter>(state.filter);
  const [rows, setRows] = useState<ListItem[]>([]);
  const [next, setNext] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [loading, setLoading] = useState(true);
  const types = TYPES.filter((x) => can(typePermission(x)));

  const load = async (filter: Filter, cursor?: string) => {
    setLoading(true);
    setError(null);
    try {
      const page = await searchNotifications(filter, cursor);
      setRows((r) => (cursor ? [...r, ...page.items] : page.items));
      setNext(page.nextCursor);
    } catch (e) {
      setError(e);
      if (!cursor) setRows([]);
    } finally {
      setLoading(false);
    }
  };

  useEffect(() => {
    void load(state.filter);
  }, [state.filter]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    onState({ ...state, filter: { ...draft, patientId: state.filter.patientId } });
  };
  const setPatient = (patientId: string | null) => {
    const filter = { ...draft, patientId: patientId ?? undefined };
    setDraft(filter);
    onState({ filter, patientLabel: patientId });
  };
  const set = (k: keyof Filter) => (e: { target: { value: string } }) =>
    setDraft((d) => ({ ...d, [k]: e.target.value || undefined }));

  return (
    <Page title={t('notifications.title')} intro={t('notifications.intro')}>
      {can('patient.read') && (
        <section aria-labelledby="sp-notif-patient">
          <h2 id="sp-notif-patient">{t('notifications.byPatient')}</h2>
          {state.patientLabel ? (
            <p className="sp-notifications-patient">
              {t('notifications.patientIs')} <code>{state.patientLabel}</code>{' '}
              <button type="button" className="sp-button" onClick={() => setPatient(null)}>
                {t('notifications.anyPatient')}
              </button>
            </p>
          ) : (
            <PatientLookup compact onFound={(f) => f && setPatient(f.patientId)} />
          )}
        </section>
      )}
      <form className="sp-notifications-filters" onSubmit={submit} aria-label={t('notifications.filters')}>
        <div className="sp-form-row">
          <label className="sp-field">
            <span>{t('notifications.type')}</span>
            <select value={draft.type ?? ''} onChange={set('type')}>
              <option value="">{t('notifications.anyType')}</option>
              {types.map((x) => (
                <option key={x} value={x}>
                  {t(`notifications.types.${x}`)}
                </option>
              ))}
            </select>
          </label>
          <label className="sp-field">
            <span>{t('notifications.status')}</span>
            <select value={draft.status ?? ''} onChange={set('status')}>
              <option value="">{t('notifications.anyStatus')}</option>
              {STATUSES.map((x) => (
                <option key={x} value={x}>
                  {t(`notifications.statuses.${x}`)}
                </option>
              ))}
            </select>
          </label>
          <label className="sp-field">
            <span>{t('notifications.from')}</span>
            <input type="date" value={draft.from ?? ''} onChange={set('from')} />
          </label>
          <label className="sp-field">
            <span>{t('notifications.to')}</span>
            <input type="date" value={draft.to ?? ''} onChange={set('to')} />
          </label>
          <div>
            <button type="submit" className="sp-button sp-primary">
              {t('notifications.search')}
            </button>
          </div>
        </div>
      </form>
      <ProblemNote error={error} />
      <h2>{t('notifications.results')}</h2>
      {loading && !rows.length ? (
        <p className="sp-loading" role="status">
          {t('app.loading')}
        </p>
      ) : (
        <DataTable<ListItem>
          caption={t('notifications.results')}
          rows={rows}
          rowKey={(n) => n.id}
          empty={t('notifications.none')}
          columns={[
            {
              key: 'type',
              header: t('notifications.type'),
              cell: (n) => <Link to={`/notifications/${n.id}`}>{t(`notifications.types.${n.type}`, n.type)}</Link>,
            },
            {
              key: 'status',
              header: t('notifications.status'),
              cell: (n) => (
                <Badge tone={statusTone(n.status)}>{t(`notifications.statuses.${n.status}`, n.status)}</Badge>
              ),
            },
            { key: 'channels', header: t('notifications.channels'), cell: (n) => n.channels.join(', ') || '—' },
            { key: 'patient', header: t('notifications.patient'), cell: (n) => <code>{n.patientId}</code> },
            { key: 'created', header: t('notifications.created'), cell: (n) => <When at={n.createdAt} /> },
          ]}
        />
      )}
      {next && (
        <button type="button" className="sp-button" disabled={loading} onClick={() => void load(state.filter, next)}>
          {t('notifications.more')}
        </button>
      )}
    </Page>
  );
}
