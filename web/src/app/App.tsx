import { Suspense } from 'react';
import { BrowserRouter, Navigate, Route, Routes } from 'react-router';
import { useTranslation } from 'react-i18next';
import { SessionProvider, useSession } from './session';
import { Shell } from './Shell';
import { screensFor } from './screens';
import { Page } from '../components/kit';

function Loading() {
  const { t } = useTranslation();
  return (
    <p className="sp-loading" role="status">
      {t('app.loading')}
    </p>
  );
}

function ScreenRoutes() {
  const { can } = useSession();
  const { t } = useTranslation();
  const screens = screensFor(can);
  return (
    <Suspense fallback={<Loading />}>
      <Routes>
        {screens.map((s) => (
          <Route key={s.path} path={`${s.path}/*`} element={<s.Component />} />
        ))}
        <Route
          index
          element={
            screens[0] ? (
              <Navigate to={screens[0].path} replace />
            ) : (
              <Page title={t('app.name')}>
                <p>{t('app.nothingForRole')}</p>
              </Page>
            )
          }
        />
        <Route
          path="*"
          element={
            <Page title={t('app.notFound')}>
              <p>
                <a href="/console/">{t('app.name')}</a>
              </p>
            </Page>
          }
        />
      </Routes>
    </Suspense>
  );
}

/** The console: sign-in check, then the shell (header, navigation, idle guard) around the screen of the path. */
export function App() {
  return (
    <BrowserRouter basename="/console">
      <SessionProvider fallback={<Loading />}>
        <Shell>
          <ScreenRoutes />
        </Shell>
      </SessionProvider>
    </BrowserRouter>
  );
}
