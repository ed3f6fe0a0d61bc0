import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { Page } from '../../components/kit';
import { ErrorNote, nameOf, StaffOptions, useStaffNames } from './common';

const KINDS = ['sms', 'email', 'paging', 'webhook'] as const;
type Contact = { kind: (typeof KINDS)[number]; value: string };
interface AlertContacts {
  contacts: Contact[];
  settings: { language: string; timeZone: string; quietHours: string | null; doNotDisturbUntil: string | null };
}

/**
 * A staff member's alert contact methods (work phone, e-mail, pager, webhook), in rank order, for
 * those the API lets see and change them (alert.manage or user.manage). Staff contact data, not
 * PHI, but personal: held in component state only, never in the address or storage.
 */
export function Contacts() {
  const { t } = useTranslation();
  const names = useStaffNames();
  const [userId, setUserId] = useState('');
  const [loaded, setLoaded] = useState<{ id: string; data: AlertContacts } | null>(null);
  const [rows, setRows] = useState<Contact[]>([]);
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const path = (id: string) => `/v1/users/${encodeURIComponent(id)}/alert-contacts`;
  const open = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    setLoaded(null);
    try {
      const id = userId.trim();
      const data = (await raw('GET', path(id || '-'))) as AlertContacts;
      setLoaded({ id, data });
      setRows(data.contacts);
    } catch (err) {
      setError(err);
    }
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    if (!loaded) return;
    setError(null);
    setSaved(false);
    try {
      const data = (await raw('PUT', path(loaded.id), { contacts: rows })) as AlertContacts;
      setLoaded({ id: loaded.id, data });
      setRows(data.contacts);
      setSaved(true);
    } catch (err) {
      setError(err);
    }
  };
  const change = (i: number, c: Partial<Contact>) => setRows(rows.map((r, j) => (j === i ? { ...r, ...c } : r)));
  return (
    <Page title={t('alerts.contacts.title')} intro={t('alerts.contacts.intro')}>
      <form onSubmit={(e) => void open(e)} className="sp-alerts-form" noValidate aria-label={t('alerts.contacts.pick')}>
        <div className="sp-form-row">
          <div>
            <label htmlFor="contacts-user">{t('alerts.contacts.userId')}</label>
            <input
              id="contacts-user"
              list="contacts-staff"
              autoComplete="off"
              value={userId}
              onChange={(e) => setUserId(e.target.value)}
            />
            <StaffOptions id="contacts-staff" names={names} />
          </div>
        </div>
        <div className="sp-actions">
          <button type="submit" className="sp-button">
            {t('alerts.contacts.open')}
          </button>
        </div>
      </form>
      {!loaded && <ErrorNote error={error} />}
      {loaded && (
        <form onSubmit={(e) => void save(e)} className="sp-alerts-form" noValidate aria-labelledby="contacts-heading">
          <h2 id="contacts-heading">{t('alerts.contacts.of', { who: nameOf(names, loaded.id) })}</h2>
          <p className="sp-intro">
            {t('alerts.contacts.settings', {
              zone: loaded.data.settings.timeZone,
              quiet: loaded.data.settings.quietHours ?? '—',
            })}
          </p>
          {rows.length === 0 && <p>{t('alerts.contacts.none')}</p>}
          <ol className="sp-alerts-contacts">
            {rows.map((r, i) => (
              <li key={i} className="sp-form-row">
                <div>
                  <label htmlFor={`contact-kind-${i}`}>{t('alerts.contacts.kind', { n: i + 1 })}</label>
                  <select
                    id={`contact-kind-${i}`}
                    value={r.kind}
                    onChange={(e) => change(i, { kind: e.target.value as Contact['kind'] })}
                  >
                    {KINDS.map((k) => (
                      <option key={k} value={k}>
                        {t(`alerts.contacts.kinds.${k}`)}
                      </option>
                    ))}
                  </select>
                </div>
                <div>
                  <label htmlFor={`contact-value-${i}`}>{t('alerts.contacts.value', { n: i + 1 })}</label>
                  <input
                    id={`contact-value-${i}`}
                    autoComplete="off"
                    value={r.value}
                    onChange={(e) => change(i, { value: e.target.value })}
                  />
                </div>
                <button type="button" className="sp-button" onClick={() => setRows(rows.filter((_, j) => j !== i))}>
                  {t('alerts.contacts.remove', { n: i + 1 })}
                </button>
              </li>
            ))}
          </ol>
          <ErrorNote error={error} />
          {saved && <p role="status">{t('alerts.contacts.saved')}</p>}
          <div className="sp-actions">
            <button type="button" className="sp-button" onClick={() => setRows([...rows, { kind: 'sms', value: '' }])}>
              {t('alerts.contacts.add')}
            </button>
            <button type="submit" className="sp-button sp-primary">
              {t('alerts.contacts.save')}
            </button>
          </div>
        </form>
      )}
    </Page>
  );
}
