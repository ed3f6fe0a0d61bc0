import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { useSession } from '../../app/session';
import { ConfirmButton, DataTable, useAsync } from '../../components/kit';
import { ErrorNote, nameOf, splitIds } from './common';

interface Group {
  id: string;
  name: string;
  memberIds: string[];
}

/**
 * Staff groups (alert target `group:<id>`): listed for alert.read; administrators create one, change
 * its name and members (the form is filled from the row), or delete it.
 */
export function Groups({ names }: { names: Map<string, string> }) {
  const { t } = useTranslation();
  const { can } = useSession();
  const [version, setVersion] = useState(0);
  const [editing, setEditing] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [members, setMembers] = useState('');
  const [error, setError] = useState<unknown>(null);
  const list = useAsync(() => raw('GET', '/v1/groups?limit=200') as Promise<{ items: Group[] }>, [version]);
  const manage = can('alert.manage');
  const reset = () => {
    setEditing(null);
    setName('');
    setMembers('');
  };
  const save = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    try {
      const body = { name: name.trim(), memberIds: splitIds(members) };
      if (editing) await raw('PUT', `/v1/groups/${encodeURIComponent(editing)}`, body);
      else await raw('POST', '/v1/groups', body);
      reset();
      setVersion((v) => v + 1);
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section aria-labelledby="groups-heading">
      <h2 id="groups-heading">{t('alerts.groups.title')}</h2>
      <p className="sp-intro">{t('alerts.groups.intro')}</p>
      <ErrorNote error={list.error} />
      <DataTable
        caption={t('alerts.groups.title')}
        rows={list.data?.items ?? []}
        rowKey={(g) => g.id}
        empty={t('alerts.groups.none')}
        columns={[
          { key: 'name', header: t('alerts.groups.name'), cell: (g) => g.name },
          { key: 'target', header: t('alerts.units.target'), cell: (g) => <code>{`group:${g.id}`}</code> },
          {
            key: 'members',
            header: t('alerts.groups.members'),
            cell: (g) => g.memberIds.map((u) => nameOf(names, u)).join(', ') || '—',
          },
          ...(manage
            ? [
                {
                  key: 'actions',
                  header: t('alerts.overrides.actions'),
                  cell: (g: Group) => (
                    <span className="sp-actions">
                      <button
                        type="button"
                        className="sp-button"
                        aria-label={t('alerts.groups.editOne', { name: g.name })}
                        onClick={() => {
                          setEditing(g.id);
                          setName(g.name);
                          setMembers(g.memberIds.join(', '));
                        }}
                      >
                        {t('alerts.groups.edit')}
                      </button>
                      <ConfirmButton
                        danger
                        label={t('alerts.groups.delete', { name: g.name })}
                        title={t('alerts.groups.deleteTitle')}
                        body={t('alerts.groups.deleteBody')}
                        onConfirm={async () => {
                          await raw('DELETE', `/v1/groups/${encodeURIComponent(g.id)}`);
                          setVersion((v) => v + 1);
                        }}
                      />
                    </span>
                  ),
                },
              ]
            : []),
        ]}
      />
      {manage && (
        <form onSubmit={(e) => void save(e)} className="sp-alerts-form" noValidate aria-labelledby="group-form">
          <h3 id="group-form">{editing ? t('alerts.groups.editTitle') : t('alerts.groups.create')}</h3>
          <div className="sp-form-row">
            <div>
              <label htmlFor="group-name">{t('alerts.groups.name')}</label>
              <input id="group-name" autoComplete="off" value={name} onChange={(e) => setName(e.target.value)} />
            </div>
            <div>
              <label htmlFor="group-members">{t('alerts.groups.memberIds')}</label>
              <input
                id="group-members"
                autoComplete="off"
                value={members}
                onChange={(e) => setMembers(e.target.value)}
              />
            </div>
          </div>
          <ErrorNote error={error} />
          <div className="sp-actions">
            <button type="submit" className="sp-button sp-primary">
              {editing ? t('alerts.groups.save') : t('alerts.groups.submit')}
            </button>
            {editing && (
              <button type="button" className="sp-button" onClick={reset}>
                {t('alerts.groups.cancel')}
              </button>
            )}
          </div>
        </form>
      )}
    </section>
  );
}
