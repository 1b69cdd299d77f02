// Settings → Notifications: how a delivery and a new webhook's inputs read in the console.

import type { Delivery } from './types';

/** "delivered (HTTP 200)", "failed after 8/8 attempts: no answer within 10 s", "pending: attempt 2 of 8 failed (…)". */
export function deliveryOutcome(d: Delivery): string {
  const why = d.last_error ?? (d.last_status !== null ? `HTTP ${d.last_status}` : 'no reason recorded');
  switch (d.state) {
    case 'delivered':
      return d.last_status !== null ? `delivered (HTTP ${d.last_status})` : 'delivered';
    case 'failed':
      return `failed after ${d.attempts}/${d.max_attempts} attempts: ${why}`;
    case 'pending':
      return d.attempts === 0 ? 'pending: not sent yet' : `pending: attempt ${d.attempts} of ${d.max_attempts} failed (${why})`;
  }
}

/** What is wrong with a webhook form's inputs, or null: the engine's rules, checked as the user types. */
export function webhookProblem(url: string, secret: string): string | null {
  const u = url.trim();
  if (!u) return 'Enter the URL events are POSTed to';
  let parsed: URL;
  try {
    parsed = new URL(u);
  } catch {
    return 'The URL must be an http:// or https:// URL, e.g. https://hooks.example.com/switchyard';
  }
  if ((parsed.protocol !== 'http:' && parsed.protocol !== 'https:') || !parsed.hostname) {
    return 'The URL must be an http:// or https:// URL, e.g. https://hooks.example.com/switchyard';
  }
  if (secret && (secret.length < 16 || secret.length > 256)) return 'The secret must be 16 to 256 characters long';
  return null;
}
