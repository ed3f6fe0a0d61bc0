import { useState, type FormEvent } from 'react';
import { useTranslation } from 'react-i18next';
import { ProblemNote, useAsync } from '../../components/kit';
import { BACKPORT, fhir, loadTopics, topicKey } from './fhir';
import { Input } from './fields';

const EMPTY = { topic: '', endpoint: '', reason: '', payload: 'id-only', header: '' };

/**
 * A new rest-hook Subscription (R5 Backport IG): topic, endpoint (https; the outbound address
 * policy decides), reason, payload content (empty or id-only) and an optional header for the
 * endpoint (e.g. its Authorization; reads show it redacted). The server handshakes, then it is active.
 */
export function NewSubscription({ onCreated }: { onCreated: (id: string) => void }) {
  const { t } = useTranslation();
  const topics = useAsync(loadTopics, []);
  const [form, setForm] = useState(EMPTY);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const set = (k: keyof typeof EMPTY) => (v: string) => setForm((f) => ({ ...f, [k]: v }));
  const topic = form.topic || topics.data?.[0] || '';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const created = await fhir('POST', '/fhir/R4/Subscription', {
        resourceType: 'Subscription',
        status: 'requested',
        reason: form.reason.trim(),
        criteria: topic,
        channel: {
          type: 'rest-hook',
          endpoint: form.endpoint.trim(),
          ...(form.header.trim() ? { header: [form.header.trim()] } : {}),
          ...(form.payload === 'empty'
            ? {}
            : {
                payload: 'application/fhir+json',
                _payload: { extension: [{ url: `${BACKPORT}/backport-payload-content`, valueCode: form.payload }] },
              }),
        },
      });
      setForm(EMPTY);
      onCreated(String(created?.id ?? ''));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="sp-integrations-form" onSubmit={submit} aria-label={t('integrations.subscriptions.newTitle')}>
      <div className="sp-form-row">
        <div className="sp-field">
          <label htmlFor="sub-topic">{t('integrations.subscriptions.topic')}</label>
          <select id="sub-topic" value={topic} onChange={(e) => set('topic')(e.target.value)}>
            {(topics.data ?? []).map((u) => (
              <option key={u} value={u}>
                {t(`integrations.topics.${topicKey(u)}`, topicKey(u))}
              </option>
            ))}
          </select>
        </div>
        <div className="sp-field">
          <label htmlFor="sub-payload">{t('integrations.subscriptions.payload')}</label>
          <select id="sub-payload" value={form.payload} onChange={(e) => set('payload')(e.target.value)}>
            <option value="id-only">{t('integrations.subscriptions.idOnly')}</option>
            <option value="empty">{t('integrations.subscriptions.empty')}</option>
          </select>
        </div>
      </div>
      <Input
        id="sub-endpoint"
        type="url"
        label={t('integrations.subscriptions.endpoint')}
        value={form.endpoint}
        onChange={set('endpoint')}
        required
        hint={t('integrations.subscriptions.endpointHint')}
      />
      <Input
        id="sub-reason"
        label={t('integrations.subscriptions.reason')}
        value={form.reason}
        onChange={set('reason')}
        required
      />
      <Input
        id="sub-header"
        label={t('integrations.subscriptions.header')}
        value={form.header}
        onChange={set('header')}
        hint={t('integrations.subscriptions.headerHint')}
      />
      <ProblemNote error={topics.error ?? error} />
      <div className="sp-actions">
        <button type="submit" className="sp-button sp-primary" disabled={busy || !topic}>
          {t('integrations.subscriptions.create')}
        </button>
      </div>
    </form>
  );
}
