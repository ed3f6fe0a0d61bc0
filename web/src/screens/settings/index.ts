import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** Branding, delivery settings, channel configuration status and template previews. */
export const screen: ScreenDef = {
  path: 'settings',
  order: 90,
  labelKey: 'settings.nav',
  anyOf: ['settings.read', 'settings.manage'],
  Component: lazy(() => import('./SettingsScreen')),
};
