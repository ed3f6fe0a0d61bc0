import { useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { ProblemNote } from '../../components/kit';

/** A PNG, JPEG or WebP logo of at most 256 KB, sent as it is (PUT /v1/branding/logo); the server checks it. */
export function LogoUpload({ onUploaded }: { onUploaded: () => void }) {
  const { t } = useTranslation();
  const input = useRef<HTMLInputElement>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const upload = async () => {
    const file = input.current?.files?.[0];
    if (!file) return;
    setBusy(true);
    setError(null);
    try {
      await raw('PUT', '/v1/branding/logo', file, file.type || 'application/octet-stream');
      if (input.current) input.current.value = '';
      onUploaded();
    } catch (e) {
      setError(e);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div className="sp-settings-upload">
      <label htmlFor="sp-settings-logo-file">{t('settings.branding.uploadLabel')}</label>
      <input id="sp-settings-logo-file" ref={input} type="file" accept="image/png,image/jpeg,image/webp" />
      <button type="button" className="sp-button" disabled={busy} onClick={() => void upload()}>
        {t('settings.branding.upload')}
      </button>
      <ProblemNote error={error} />
    </div>
  );
}
