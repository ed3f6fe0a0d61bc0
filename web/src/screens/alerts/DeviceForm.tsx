import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { ErrorNote } from './common';

export interface Device {
  id: string;
  kind: 'monitor' | 'paging-gateway';
  location: string;
  patientId: string | null;
  target: string | null;
  status: 'online' | 'offline' | 'unknown';
  lastSeenAt: string | null;
  createdAt: string;
  removedAt: string | null;
}

/**
 * Register a device (id, kind, its client certificate, location, optional patient and target), or
 * change one's location, patient and target (its certificate and kind cannot change: the API says so).
 */
export function DeviceForm({
  device,
  onDone,
  onCancel,
}: {
  device: Device | null;
  onDone: () => void;
  onCancel: () => void;
}) {
  const { t } = useTranslation();
  const [id, setId] = useState('');
  const [kind, setKind] = useState<Device['kind']>('monitor');
  const [certPem, setCertPem] = useState('');
  const [location, setLocation] = useState(device?.location ?? '');
  const [patientId, setPatientId] = useState(device?.patientId ?? '');
  const [target, setTarget] = useState(device?.target ?? '');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setError(null);
    setSaved(false);
    try {
      if (device)
        await raw('PATCH', `/v1/medical-devices/${encodeURIComponent(device.id)}`, {
          location,
          patientId: patientId.trim() || null,
          target: target.trim() || null,
        });
      else
        await raw('POST', '/v1/medical-devices', {
          id: id.trim(),
          kind,
          certPem,
          location,
          ...(patientId.trim() ? { patientId: patientId.trim() } : {}),
          ...(target.trim() ? { target: target.trim() } : {}),
        });
      setSaved(true);
      if (!device) {
        setId('');
        setCertPem('');
        setLocation('');
        setPatientId('');
        setTarget('');
      }
      onDone();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <form className="sp-alerts-form" onSubmit={(e) => void submit(e)} noValidate>
      <h2>{device ? t('alerts.devices.changeOne', { id: device.id }) : t('alerts.devices.register')}</h2>
      {!device && (
        <div className="sp-form-row">
          <div>
            <label htmlFor="dev-id">{t('alerts.devices.id')}</label>
            <input id="dev-id" value={id} autoComplete="off" onChange={(e) => setId(e.target.value)} />
          </div>
          <div>
            <label htmlFor="dev-kind">{t('alerts.devices.kind')}</label>
            <select id="dev-kind" value={kind} onChange={(e) => setKind(e.target.value as Device['kind'])}>
              <option value="monitor">{t('alerts.devices.kinds.monitor')}</option>
              <option value="paging-gateway">{t('alerts.devices.kinds.paging-gateway')}</option>
            </select>
          </div>
        </div>
      )}
      {!device && (
        <>
          <label htmlFor="dev-cert">{t('alerts.devices.cert')}</label>
          <textarea
            id="dev-cert"
            rows={4}
            value={certPem}
            spellCheck={false}
            onChange={(e) => setCertPem(e.target.value)}
          />
        </>
      )}
      <div className="sp-form-row">
        <div>
          <label htmlFor="dev-location">{t('alerts.devices.location')}</label>
          <input
            id="dev-location"
            value={location}
            placeholder="4-west/12"
            onChange={(e) => setLocation(e.target.value)}
          />
        </div>
        <div>
          <label htmlFor="dev-patient">{t('alerts.devices.patientId')}</label>
          <input id="dev-patient" value={patientId} autoComplete="off" onChange={(e) => setPatientId(e.target.value)} />
        </div>
        <div>
          <label htmlFor="dev-target">{t('alerts.devices.target')}</label>
          <input id="dev-target" value={target} autoComplete="off" onChange={(e) => setTarget(e.target.value)} />
        </div>
      </div>
      <ErrorNote error={error} />
      {saved && <p role="status">{t('common.saved')}</p>}
      <div className="sp-actions">
        <button type="submit" className="sp-button sp-primary">
          {device ? t('common.save') : t('alerts.devices.registerSubmit')}
        </button>
        {device && (
          <button type="button" className="sp-button" onClick={onCancel}>
            {t('common.cancel')}
          </button>
        )}
      </div>
    </form>
  );
}
