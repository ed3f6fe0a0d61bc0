import type { ComponentType } from 'react';

/**
 * One screen of the console. Each lives in `src/screens/<name>/index.ts`, which exports `screen`;
 * the registry below finds them all at build time, so adding a screen touches no shared file.
 */
export interface ScreenDef {
  /** The path below /console/ (e.g. `overview`); sub-paths are the screen's own (`overview/*`). */
  path: string;
  /** Position in the navigation (lower first). */
  order: number;
  /** i18n key of the navigation label. */
  labelKey: string;
  /** The screen is shown to people holding any of these permissions: the API would refuse the others. */
  anyOf: string[];
  /** The screen, usually `lazy(() => import('./XScreen'))`, so each screen is its own chunk. */
  Component: ComponentType;
}

const modules = import.meta.glob<{ screen: ScreenDef }>('../screens/*/index.ts', { eager: true });

export const SCREENS: ScreenDef[] = Object.values(modules)
  .map((m) => m.screen)
  .sort((a, b) => a.order - b.order);

/** The screens this person may open. */
export const screensFor = (can: (p: string) => boolean) => SCREENS.filter((s) => s.anyOf.some(can));
