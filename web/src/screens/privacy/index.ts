import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** Privacy monitoring: the monitor's alerts with their evidence, suppressions, sensitive patients, breach reports. */
export const screen: ScreenDef = {
  path: 'privacy',
  order: 55,
  labelKey: 'privacy.nav',
  anyOf: ['privacy.read'],
  Component: lazy(() => import('./PrivacyScreen')),
};
