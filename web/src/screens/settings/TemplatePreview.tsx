import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { raw } from '../../app/api';
import { ProblemNote, useAsync } from '../../components/kit';
import type { Preview, Rendered } from './types';

const LANGS = ['en', 'es'] as const;

function Rendering({ lang, r }: { lang: 'en' | 'es'; r: Rendered }) {
  const { t } = useTranslation();
  return (
    <article className="sp-settings-rendering" lang={lang} aria-labelledby={`sp-settings-lang-${lang}`}>
      <h3 id={`sp-settings-lang-${lang}`}>{t(`languages.${lang}`)}</h3>
      <div className="sp-settings-pair">
        <div>
          <h4>{t('settings.templates.secure')}</h4>
          <p className="sp-settings-title">{r.secure.title}</p>
          <pre className="sp-settings-text">{r.secure.body}</pre>
        </div>
        <div>
          <h4>{t('settings.templates.nudge')}</h4>
          <dl className="sp-settings-nudges">
            <dt>{t('settings.templates.sms')}</dt>
            <dd>
              <pre className="sp-settings-text">{r.nudge.sms}</pre>
            </dd>
            <dt>{t('settings.templates.email')}</dt>
            <dd>
              <p className="sp-settings-title">{r.nudge.emailSubject}</p>
              <pre className="sp-settings-text">{r.nudge.email}</pre>
            </dd>
            <dt>{t('settings.templates.push')}</dt>
            <dd>
              <pre className="sp-settings-text">{r.nudge.push}</pre>
            </dd>
          </dl>
        </div>
      </div>
    </article>
  );
}

/**
 * A notification type's secure text (read in the portal after verification) beside the PHI-free
 * nudge that actually goes out by SMS, e-mail and push, in English and Spanish, with invented data.
 */
export function TemplatePreview({ types }: { types: string[] }) {
  const { t } = useTranslation();
  const [type, setType] = useState(types[0] ?? 'appointment_reminder');
  const preview = useAsync<Preview>(
    () => raw('GET', `/v1/settings/templates/${encodeURIComponent(type)}/preview`),
    [type],
  );
  return (
    <section className="sp-card sp-settings-panel" aria-labelledby="sp-settings-templates">
      <h2 id="sp-settings-templates">{t('settings.templates.title')}</h2>
      <p className="sp-intro">{t('settings.templates.intro')}</p>
      <div className="sp-field">
        <label htmlFor="sp-settings-type">{t('settings.templates.type')}</label>
        <select id="sp-settings-type" value={type} onChange={(e) => setType(e.target.value)}>
          {types.map((ty) => (
            <option key={ty} value={ty}>
              {t(`settings.templates.types.${ty}`)}
            </option>
          ))}
        </select>
      </div>
      <ProblemNote error={preview.error} />
      {preview.data && preview.data.type === type && (
        <div className="sp-settings-langs" data-testid="template-preview">
          {LANGS.map((l) => (
            <Rendering key={l} lang={l} r={preview.data!.languages[l]} />
          ))}
        </div>
      )}
    </section>
  );
}
