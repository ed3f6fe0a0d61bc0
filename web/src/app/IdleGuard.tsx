import { useEffect, useRef, useState } from 'react';
import { Button, Dialog, Heading, Modal } from 'react-aria-components';
import { useTranslation } from 'react-i18next';
import { api } from './api';
import { useSession } from './session';

const ACTIVITY = ['pointerdown', 'keydown', 'wheel', 'touchstart'] as const;

/**
 * Automatic logoff (HIPAA 164.312(a)(2)(iii)) as the person sees it: the server ends a session after
 * SEALPOST_SESSION_IDLE_MINUTES without a request; the console counts the person's own input, not its
 * background refreshes, warns before the end with a countdown, and signs out itself when it comes.
 * Input keeps the server's session alive (at most one request a minute), so a person reading a long
 * screen is not signed out under their hands. The server records last use once a minute, so the
 * console ends a minute early rather than find the session already gone.
 */
export function IdleGuard() {
  const { me, signOut } = useSession();
  const { t } = useTranslation();
  const idle = me.session?.idleTimeoutSeconds ?? 900;
  const endAfter = Math.max(idle - 60, Math.floor(idle * 0.75)) * 1000;
  const warnFor = Math.min(120_000, Math.floor(endAfter / 3));
  const last = useRef(Date.now());
  const lastPing = useRef(Date.now());
  const [left, setLeft] = useState<number | null>(null);

  useEffect(() => {
    const onActivity = () => {
      if (left !== null) return; // while warning, only the button counts
      last.current = Date.now();
      if (last.current - lastPing.current > 60_000) {
        lastPing.current = last.current;
        void api.GET('/v1/me');
      }
    };
    ACTIVITY.forEach((e) => window.addEventListener(e, onActivity, { passive: true }));
    const timer = window.setInterval(() => {
      const remaining = last.current + endAfter - Date.now();
      if (remaining <= 0) void signOut('idle');
      else if (remaining <= warnFor) setLeft(Math.ceil(remaining / 1000));
      else setLeft(null);
    }, 1000);
    return () => {
      ACTIVITY.forEach((e) => window.removeEventListener(e, onActivity));
      window.clearInterval(timer);
    };
  }, [endAfter, warnFor, left, signOut]);

  const stay = () => {
    last.current = lastPing.current = Date.now();
    setLeft(null);
    void api.GET('/v1/me');
  };

  return (
    <Modal isOpen={left !== null} isDismissable={false} className="sp-modal" data-testid="idle-warning">
      <Dialog role="alertdialog" className="sp-dialog">
        <Heading slot="title">{t('idle.title')}</Heading>
        <p aria-live="polite">{t('idle.body', { seconds: left ?? 0 })}</p>
        <div className="sp-actions">
          <Button className="sp-button sp-primary" onPress={stay} autoFocus>
            {t('idle.stay')}
          </Button>
          <Button className="sp-button" onPress={() => void signOut()}>
            {t('nav.signOut')}
          </Button>
        </div>
      </Dialog>
    </Modal>
  );
}
