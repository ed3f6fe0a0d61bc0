import { lazy } from 'react';
import type { ScreenDef } from '../../app/screens';

/** The signed-in person's end-to-end encrypted conversations (this browser as one of their devices). */
export const screen: ScreenDef = {
  path: 'messages',
  order: 70,
  labelKey: 'messages.nav',
  anyOf: ['message.use'],
  Component: lazy(() => import('./MessagesScreen')),
};
