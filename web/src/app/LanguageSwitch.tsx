import { useTranslation } from 'react-i18next';
import { LANGUAGES, setLanguage } from '../i18n/i18n';

/** English or Spanish; the choice is kept in this browser (a setting, not personal data). */
export function LanguageSwitch() {
  const { t, i18n } = useTranslation();
  return (
    <label className="sp-lang">
      <span className="sp-visually-hidden">{t('nav.language')}</span>
      <select value={i18n.language} onChange={(e) => setLanguage(e.target.value)}>
        {LANGUAGES.map((l) => (
          <option key={l} value={l} lang={l}>
            {t(`languages.${l}`)}
          </option>
        ))}
      </select>
    </label>
  );
}
