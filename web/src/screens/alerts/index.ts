import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** Alerts and on-call: open alerts, escalation policies, on-call schedules, medical devices. */
export const screen: ScreenDef = {
  path: 'alerts',
  order: 60,
  labelKey: 'alerts.nav',
  anyOf: ['alert.read', 'schedule.read', 'device.manage'],
  Component: lazy(() => import('./AlertsScreen')),
};
