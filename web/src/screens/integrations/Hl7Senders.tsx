import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { api, ok } from '../../app/api';
import { ConfirmButton, DataTable, Page, ProblemNote, useAsync, When, type Column } from '../../components/kit';
import { Input } from './fields';

type Sender = Awaited<ReturnType<typeof loadSenders>>[number];
const loadSenders = async () => (await ok(api.GET('/v1/hl7/senders'))).items;

const EMPTY = {
  app: '',
  facility: '',
  patientIdAuthority: '',
  timeZone: '',
  phoneRegion: '',
  certPem: '',
  resultHolds: '',
};

/**
 * HL7 v2 senders (MSH-3 application, MSH-4 facility): messages are accepted only from registered
 * ones. Add one (with its patient-id authority, zone, phone region, optional client certificate
 * binding and result holds) or remove one (its later messages are answered AR).
 */
export function Hl7Senders() {
  const { t } = useTranslation();
  const senders = useAsync(loadSenders, []);
  const [form, setForm] = useState(EMPTY);
  const [error, setError] = useState<unknown>(null);
  const [done, setDone] = useState('');
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof EMPTY) => (v: string) => setForm((f) => ({ ...f, [k]: v }));

  const add = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setDone('');
    try {
      const holds = form.resultHolds
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const s = await ok(
        api.POST('/v1/hl7/senders', {
          body: {
            app: form.app.trim(),
            facility: form.facility.trim(),
            ...(form.patientIdAuthority.trim() ? { patientIdAuthority: form.patientIdAuthority.trim() } : {}),
            ...(form.timeZone.trim() ? { timeZone: form.timeZone.trim() } : {}),
            ...(form.phoneRegion.trim() ? { phoneRegion: form.phoneRegion.trim() } : {}),
            ...(form.certPem.trim() ? { certPem: form.certPem.trim() } : {}),
            ...(holds.length ? { resultHolds: holds } : {}),
          },
        }),
      );
      setForm(EMPTY);
      setDone(t('integrations.senders.added', { app: s.app }));
      senders.reload();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const columns: Column<Sender>[] = [
    { key: 'app', header: t('integrations.senders.app'), cell: (s) => <strong>{s.app}</strong> },
    { key: 'facility', header: t('integrations.senders.facility'), cell: (s) => s.facility || '—' },
    {
      key: 'authority',
      header: t('integrations.senders.authority'),
      cell: (s) => s.patientIdAuthority ?? t('integrations.senders.mr'),
    },
    { key: 'zone', header: t('integrations.senders.zone'), cell: (s) => `${s.timeZone} · ${s.phoneRegion}` },
    {
      key: 'cert',
      header: t('integrations.senders.cert'),
      cell: (s) =>
        s.certSha256 ? (
          <span className="sp-integrations-id">{s.certSha256}</span>
        ) : (
          t('integrations.senders.loopbackOnly')
        ),
    },
    {
      key: 'holds',
      header: t('integrations.senders.holds'),
      cell: (s) => s.resultHolds.map((h) => `${h.code}=${h.minutes}m`).join(', ') || '—',
    },
    { key: 'created', header: t('integrations.senders.created'), cell: (s) => <When at={s.createdAt} /> },
    {
      key: 'remove',
      header: t('integrations.actions'),
      cell: (s) => (
        <ConfirmButton
          danger
          label={t('integrations.senders.remove')}
          title={t('integrations.senders.removeTitle', { app: s.app })}
          body={t('integrations.senders.removeBody')}
          onConfirm={async () => {
            await ok(api.DELETE('/v1/hl7/senders/{id}', { params: { path: { id: s.id } } }));
            setDone(t('integrations.senders.removed', { app: s.app }));
            senders.reload();
          }}
        />
      ),
    },
  ];

  return (
    <Page title={t('integrations.senders.title')} intro={t('integrations.senders.intro')}>
      <ProblemNote error={senders.error} />
      {done && <p role="status">{done}</p>}
      {senders.data && (
        <DataTable
          caption={t('integrations.senders.title')}
          columns={columns}
          rows={senders.data}
          rowKey={(s) => s.id}
          empty={t('integrations.senders.none')}
        />
      )}
      <h2>{t('integrations.senders.addTitle')}</h2>
      <form className="sp-integrations-form" onSubmit={add} aria-label={t('integrations.senders.addTitle')}>
        <div className="sp-form-row">
          <Input
            id="sender-app"
            label={t('integrations.senders.app')}
            value={form.app}
            onChange={set('app')}
            required
            hint={t('integrations.senders.appHint')}
          />
          <Input
            id="sender-facility"
            label={t('integrations.senders.facility')}
            value={form.facility}
            onChange={set('facility')}
            hint={t('integrations.senders.facilityHint')}
          />
        </div>
        <div className="sp-form-row">
          <Input
            id="sender-authority"
            label={t('integrations.senders.authority')}
            value={form.patientIdAuthority}
            onChange={set('patientIdAuthority')}
            hint={t('integrations.senders.authorityHint')}
          />
          <Input
            id="sender-zone"
            label={t('integrations.senders.timeZone')}
            value={form.timeZone}
            onChange={set('timeZone')}
            hint={t('integrations.senders.timeZoneHint')}
          />
          <Input
            id="sender-region"
            label={t('integrations.senders.phoneRegion')}
            value={form.phoneRegion}
            onChange={set('phoneRegion')}
            hint={t('integrations.senders.phoneRegionHint')}
          />
        </div>
        <Input
          id="sender-holds"
          label={t('integrations.senders.holds')}
          value={form.resultHolds}
          onChange={set('resultHolds')}
          hint={t('integrations.senders.holdsHint')}
        />
        <Input
          id="sender-cert"
          label={t('integrations.senders.certPem')}
          value={form.certPem}
          onChange={set('certPem')}
          multiline
          hint={t('integrations.senders.certHint')}
        />
        <ProblemNote error={error} />
        <div className="sp-actions">
          <button type="submit" className="sp-button sp-primary" disabled={busy}>
            {t('integrations.senders.add')}
          </button>
        </div>
      </form>
    </Page>
  );
}
