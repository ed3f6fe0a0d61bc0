import { useEffect, useState, type FormEvent } from 'react';
import { Button } from 'react-aria-components';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { loadBranding } from '../../app/branding';
import { useSession } from '../../app/session';
import { ConfirmButton, Field, ProblemNote, useAsync } from '../../components/kit';
import { LogoUpload } from './LogoUpload';

interface Brand {
  organisationName: string;
  accentColor: string;
  hasLogo: boolean;
}

/**
 * The organisation's name and accent colour (PUT /v1/branding) and its logo (PUT/DELETE
 * /v1/branding/logo), for those who hold settings.manage; read-only for the others. The server
 * checks every value (contrast of the accent, image type and size) and refuses bad ones whole.
 */
export function BrandingForm() {
  const { t } = useTranslation();
  const { can } = useSession();
  const manage = can('settings.manage');
  const brand = useAsync<Brand>(() => raw('GET', '/v1/branding'), []);
  const [name, setName] = useState('');
  const [accent, setAccent] = useState('');
  const [error, setError] = useState<unknown>(null);
  const [saved, setSaved] = useState('');
  const [busy, setBusy] = useState(false);
  const [logoVersion, setLogoVersion] = useState(0);

  useEffect(() => {
    if (brand.data) {
      setName(brand.data.organisationName);
      setAccent(brand.data.accentColor);
    }
  }, [brand.data]);

  const changed = () => {
    setError(null);
    setSaved(t('common.saved'));
    setLogoVersion((v) => v + 1);
    brand.reload();
    void loadBranding(true);
  };

  const save = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    setSaved('');
    try {
      await raw('PUT', '/v1/branding', { organisationName: name, accentColor: accent });
      changed();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const b = brand.data;
  return (
    <section className="sp-card sp-settings-panel" aria-labelledby="sp-settings-branding">
      <h2 id="sp-settings-branding">{t('settings.branding.title')}</h2>
      <ProblemNote error={brand.error} />
      {b && !manage && (
        <dl className="sp-settings-list">
          <div>
            <dt>{t('settings.branding.name')}</dt>
            <dd>{b.organisationName}</dd>
          </div>
          <div>
            <dt>{t('settings.branding.accent')}</dt>
            <dd>
              <span className="sp-settings-swatch" style={{ background: b.accentColor }} aria-hidden="true" />
              <code>{b.accentColor}</code>
            </dd>
          </div>
        </dl>
      )}
      {b && manage && (
        <form onSubmit={save} className="sp-settings-form" noValidate>
          <Field label={t('settings.branding.name')} value={name} onChange={setName} isRequired />
          <div className="sp-settings-accent">
            <Field label={t('settings.branding.accent')} value={accent} onChange={setAccent} />
            <span className="sp-settings-swatch" style={{ background: accent }} aria-hidden="true" />
          </div>
          <p className="sp-settings-source">{t('settings.branding.accentHelp')}</p>
          <ProblemNote error={error} />
          <p role="status" className="sp-settings-saved">
            {saved}
          </p>
          <Button type="submit" className="sp-button sp-primary" isDisabled={busy}>
            {t('common.save')}
          </Button>
        </form>
      )}
      {b && (
        <div className="sp-settings-logo">
          <h3>{t('settings.branding.logo')}</h3>
          {b.hasLogo ? (
            <img src={`/brand/logo?v=${logoVersion}`} alt={t('settings.branding.logoAlt')} />
          ) : (
            <p className="sp-empty">{t('settings.branding.noLogo')}</p>
          )}
          {manage && (
            <div className="sp-actions">
              <LogoUpload onUploaded={changed} />
              {b.hasLogo && (
                <ConfirmButton
                  danger
                  label={t('settings.branding.removeLogo')}
                  title={t('settings.branding.removeLogoTitle')}
                  body={t('settings.branding.removeLogoBody')}
                  confirmLabel={t('settings.branding.removeLogo')}
                  onConfirm={async () => {
                    await raw('DELETE', '/v1/branding/logo');
                    changed();
                  }}
                />
              )}
            </div>
          )}
        </div>
      )}
    </section>
  );
}
