import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** Notifications: search by patient, type, status and time; one notification's timeline, proof and audit entries. */
export const screen: ScreenDef = {
  path: 'notifications',
  order: 20,
  labelKey: 'notifications.nav',
  anyOf: ['notification.read'],
  Component: lazy(() => import('./NotificationsScreen')),
};
