import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { api, ok, onSessionEnded } from './api';

export interface Me {
  id: string;
  kind: string;
  tenantId: string;
  roles: string[];
  permissions: string[];
  session: { id: string; expiresAt: string; idleTimeoutSeconds: number; amr: string[] } | null;
}

interface SessionValue {
  me: Me;
  /** Whether the person holds this permission (the server decides; the console hides what it would refuse). */
  can: (permission: string) => boolean;
  signOut: (reason?: 'idle') => Promise<void>;
}

const SessionContext = createContext<SessionValue | null>(null);

export function useSession(): SessionValue {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside SessionProvider');
  return s;
}

/** The sign-in page, coming back to this screen afterwards (a path only: no query, which could carry input). */
let leaving = false;
export function toSignIn(reason?: string): void {
  // Once: a sign-out and the 401s of requests still in flight must not start competing navigations.
  if (leaving) return;
  leaving = true;
  const next = encodeURIComponent(window.location.pathname);
  window.location.assign(`/login?next=${next}${reason ? `&reason=${reason}` : ''}`);
}

/**
 * Who is signed in (GET /v1/me). Without a session, or at a sign-in step short of the second factor,
 * the person goes to the sign-in page, which brings them back here.
 */
export function SessionProvider({ children, fallback }: { children: ReactNode; fallback: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [failed, setFailed] = useState<string | null>(null);

  useEffect(() => {
    ok(api.GET('/v1/me'))
      .then((m) => {
        const me = m as unknown as Me;
        if (me.kind !== 'user' || !me.session) setFailed('notStaff');
        else setMe(me);
      })
      .catch((e) => (e?.status === 401 ? toSignIn() : setFailed('unreachable')));
  }, []);

  useEffect(() => onSessionEnded(() => toSignIn('ended')), []);

  const signOut = useCallback(async (reason?: 'idle') => {
    await api.POST('/v1/auth/logout').catch(() => undefined);
    toSignIn(reason);
  }, []);

  const value = useMemo<SessionValue | null>(
    () => (me ? { me, can: (p) => me.permissions.includes(p), signOut } : null),
    [me, signOut],
  );
  if (failed) return <SessionProblem reason={failed} />;
  if (!value) return <>{fallback}</>;
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}

import { useTranslation } from 'react-i18next';
function SessionProblem({ reason }: { reason: string }) {
  const { t } = useTranslation();
  return (
    <main className="sp-narrow">
      <h1>{t('app.name')}</h1>
      <p role="alert">{t(`session.${reason}`)}</p>
      <p>
        <a href="/login">{t('session.toSignIn')}</a>
      </p>
    </main>
  );
}
