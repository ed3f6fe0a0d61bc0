import i18n from 'i18next';
import { initReactI18next } from 'react-i18next';
import en from './en.json';
import es from './es.json';

export const LANGUAGES = ['en', 'es'] as const;
const KEY = 'sealpost.console.language';

function initial(): string {
  const saved = window.localStorage.getItem(KEY);
  if (saved && (LANGUAGES as readonly string[]).includes(saved)) return saved;
  return navigator.language?.toLowerCase().startsWith('es') ? 'es' : 'en';
}

/** English and Spanish, every string from en.json/es.json (a test keeps their keys in step). */
export function initI18n(): void {
  void i18n.use(initReactI18next).init({
    resources: { en: { translation: en }, es: { translation: es } },
    lng: initial(),
    fallbackLng: 'en',
    interpolation: { escapeValue: false },
  });
  document.documentElement.lang = i18n.language;
}

export function setLanguage(lang: string): void {
  window.localStorage.setItem(KEY, lang);
  void i18n.changeLanguage(lang);
  document.documentElement.lang = lang;
}
