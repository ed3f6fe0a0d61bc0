import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { ConfirmButton, Badge, DataTable, Page, useAsync, When } from '../../components/kit';
import { ErrorNote } from './common';
import { DeviceForm, type Device } from './DeviceForm';

/** Medical devices that raise alarms over MQTT: list, register, change, remove (device.manage). */
export function Devices() {
  const { t } = useTranslation();
  const list = useAsync(() => raw('GET', '/v1/medical-devices?limit=500') as Promise<{ items: Device[] }>, []);
  const [editing, setEditing] = useState<Device | null>(null);
  const [error, setError] = useState<unknown>(null);
  const live = (list.data?.items ?? []).filter((d) => !d.removedAt);
  return (
    <Page title={t('alerts.devices.title')} intro={t('alerts.devices.intro')}>
      <ErrorNote error={list.error ?? error} />
      {list.data && (
        <DataTable
          caption={t('alerts.devices.title')}
          rows={live}
          rowKey={(d) => d.id}
          empty={t('alerts.devices.none')}
          columns={[
            { key: 'id', header: t('alerts.devices.id'), cell: (d) => <code>{d.id}</code> },
            { key: 'kind', header: t('alerts.devices.kind'), cell: (d) => t(`alerts.devices.kinds.${d.kind}`) },
            { key: 'location', header: t('alerts.devices.location'), cell: (d) => d.location },
            {
              key: 'target',
              header: t('alerts.devices.target'),
              cell: (d) => (d.target ? <code>{d.target}</code> : t('alerts.devices.defaultTarget')),
            },
            {
              key: 'status',
              header: t('alerts.devices.status'),
              cell: (d) => (
                <Badge tone={d.status === 'online' ? 'ok' : d.status === 'offline' ? 'bad' : 'neutral'}>
                  {t(`alerts.devices.statuses.${d.status}`)}
                </Badge>
              ),
            },
            { key: 'seen', header: t('alerts.devices.lastSeen'), cell: (d) => <When at={d.lastSeenAt} /> },
            {
              key: 'actions',
              header: t('alerts.devices.actions'),
              cell: (d) => (
                <div className="sp-alerts-row-actions">
                  <button
                    type="button"
                    className="sp-button"
                    onClick={() => setEditing(d)}
                    aria-label={t('alerts.devices.changeOne', { id: d.id })}
                  >
                    {t('alerts.devices.change')}
                  </button>
                  <ConfirmButton
                    danger
                    label={t('alerts.devices.remove')}
                    title={t('alerts.devices.removeTitle', { id: d.id })}
                    body={t('alerts.devices.removeBody')}
                    onConfirm={async () => {
                      setError(null);
                      await raw('DELETE', `/v1/medical-devices/${encodeURIComponent(d.id)}`);
                      list.reload();
                    }}
                  />
                </div>
              ),
            },
          ]}
        />
      )}
      <DeviceForm
        key={editing?.id ?? 'new'}
        device={editing}
        onDone={() => {
          setEditing(null);
          list.reload();
        }}
        onCancel={() => setEditing(null)}
      />
    </Page>
  );
}
