export interface Restriction {
  days?: number[];
  start: string;
  end: string;
}

export interface Layer {
  name?: string;
  userIds: string[];
  kind: 'daily' | 'weekly' | 'custom';
  shiftHours?: number;
  rrule?: string;
  handoffTime: string;
  startDate: string;
  restrictions?: Restriction[];
}

export interface Schedule {
  id: string;
  name: string;
  timeZone: string;
  layers: Layer[];
  createdAt: string;
  updatedAt: string;
}

export interface Shift {
  start: string;
  end: string;
  userIds: string[];
  layer?: number;
  overrideId?: string;
}

export interface Override {
  id: string;
  userId: string;
  start: string;
  end: string;
  swapId: string | null;
  createdBy: string;
  createdAt: string;
}
