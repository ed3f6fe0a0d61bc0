import { useEffect } from 'react';

/**
 * Calls `tick` every `ms` while the page is visible; none while the tab is hidden, and one at once
 * when it shows again (the figures may have aged meanwhile).
 */
export function useVisibleInterval(tick: () => void, ms: number): void {
  useEffect(() => {
    let timer: number | undefined;
    const start = () => {
      window.clearInterval(timer);
      timer = window.setInterval(() => {
        if (document.visibilityState === 'visible') tick();
      }, ms);
    };
    const onVisibility = () => {
      if (document.visibilityState === 'visible') {
        tick();
        start();
      } else window.clearInterval(timer);
    };
    start();
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      window.clearInterval(timer);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [tick, ms]);
}
