import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** Deliveries over time, queue depth and lag, failures by code, dead letters, provider health. */
export const screen: ScreenDef = {
  path: 'overview',
  order: 10,
  labelKey: 'overview.nav',
  anyOf: ['ops.read'],
  Component: lazy(() => import('./OverviewScreen')),
};
