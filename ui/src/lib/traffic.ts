// A service's recent traffic for the services list: all generations of a monitoring
// snapshot together.

import type { MonitorSnapshot } from './types';

/** The window the services list summarises, in minutes. */
export const SERVICES_WINDOW_MINUTES = 15;

export interface TrafficSummary {
  requests: number;
  errors: number;
  /** Server errors / requests; null without traffic. */
  errorRate: number | null;
}

export function trafficSummary(snapshot: MonitorSnapshot): TrafficSummary {
  const requests = snapshot.generations.reduce((n, g) => n + g.requests, 0);
  const errors = snapshot.generations.reduce((n, g) => n + g.errors, 0);
  return { requests, errors, errorRate: requests > 0 ? errors / requests : null };
}
