import { useEffect, useRef, useState, type ReactNode } from 'react';
import { NavLink, useLocation } from 'react-router';
import { useTranslation } from 'react-i18next';
import { useSession } from './session';
import { screensFor } from './screens';
import { IdleGuard } from './IdleGuard';
import { LanguageSwitch } from './LanguageSwitch';
import { useBranding } from './branding';
import { raw } from './api';

/**
 * Every screen's frame: the organisation's name and logo, the navigation (only the screens the
 * person's permissions open; on a phone behind a menu button), the language switch, who is signed in
 * and sign-out. On each change of screen the focus moves to the new screen's heading, so keyboard and
 * screen-reader users land where sighted users look.
 */
export function Shell({ children }: { children: ReactNode }) {
  const { t } = useTranslation();
  const { can, signOut } = useSession();
  const brand = useBranding();
  const [name, setName] = useState('');
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const main = useRef<HTMLElement>(null);

  useEffect(() => {
    raw('GET', '/v1/auth/mfa')
      .then((f) => setName(f?.displayName ?? ''))
      .catch(() => undefined);
  }, []);

  useEffect(() => {
    setMenuOpen(false);
    const h1 = main.current?.querySelector('h1');
    if (h1) {
      h1.setAttribute('tabindex', '-1');
      h1.focus({ preventScroll: true });
    }
  }, [location.pathname]);

  return (
    <div className="sp-app">
      <a className="sp-skip" href="#main">
        {t('nav.skip')}
      </a>
      <header className="sp-brand sp-header">
        <div className="sp-brand-id">
          {brand.hasLogo && <img className="sp-brand-logo" src={`/brand/logo?v=${brand.logoHash ?? ''}`} alt="" />}
          <span className="sp-brand-name">{brand.organisationName}</span>
        </div>
        <button
          type="button"
          className="sp-button sp-menu-button"
          aria-expanded={menuOpen}
          aria-controls="sp-nav"
          onClick={() => setMenuOpen((o) => !o)}
        >
          {t('nav.menu')}
        </button>
        <div className="sp-user">
          <LanguageSwitch />
          <span className="sp-signed-in">{t('nav.signedInAs', { name })}</span>
          <button type="button" className="sp-button" onClick={() => void signOut()}>
            {t('nav.signOut')}
          </button>
        </div>
      </header>
      <nav id="sp-nav" className="sp-nav" data-open={menuOpen} aria-label={t('nav.label')}>
        <ul>
          {screensFor(can).map((s) => (
            <li key={s.path}>
              <NavLink to={s.path}>{t(s.labelKey)}</NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <main id="main" ref={main} className="sp-main">
        {children}
      </main>
      <IdleGuard />
    </div>
  );
}
