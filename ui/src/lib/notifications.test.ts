import { describe, expect, it } from 'vitest';

import { deliveryOutcome, webhookProblem } from './notifications';
import type { Delivery } from './types';

function delivery(over: Partial<Delivery>): Delivery {
  return {
    id: 1,
    webhook_id: 1,
    event: 'deploy',
    service: 'iris',
    state: 'pending',
    attempts: 0,
    max_attempts: 8,
    next_attempt_at: '2026-03-02T09:00:10Z',
    last_status: null,
    last_error: null,
    created_at: '2026-03-02T09:00:00Z',
    finished_at: null,
    body: '{}',
    attempt_log: [],
    ...over,
  };
}

describe('deliveryOutcome', () => {
  it('says each state and why', () => {
    expect(deliveryOutcome(delivery({}))).toBe('pending: not sent yet');
    expect(deliveryOutcome(delivery({ attempts: 2, last_status: 500, last_error: 'the endpoint answered 500 Internal Server Error' }))).toBe(
      'pending: attempt 2 of 8 failed (the endpoint answered 500 Internal Server Error)',
    );
    expect(deliveryOutcome(delivery({ state: 'delivered', attempts: 3, last_status: 200 }))).toBe('delivered (HTTP 200)');
    expect(deliveryOutcome(delivery({ state: 'failed', attempts: 8, last_error: 'no answer within 10 s' }))).toBe(
      'failed after 8/8 attempts: no answer within 10 s',
    );
    expect(deliveryOutcome(delivery({ state: 'failed', attempts: 1, max_attempts: 1, last_status: 404 }))).toBe(
      'failed after 1/1 attempts: HTTP 404',
    );
  });
});

describe('webhookProblem', () => {
  it('follows the engine: http(s) URLs, secrets of 16 to 256 characters or none', () => {
    expect(webhookProblem('', '')).toBe('Enter the URL events are POSTed to');
    expect(webhookProblem('ftp://h/x', '')).toContain('http:// or https://');
    expect(webhookProblem('not a url', '')).toContain('http:// or https://');
    expect(webhookProblem('https://hooks.example.com/x', 'short')).toBe('The secret must be 16 to 256 characters long');
    expect(webhookProblem('https://hooks.example.com/x', 'x'.repeat(257))).toBe('The secret must be 16 to 256 characters long');
    expect(webhookProblem('https://hooks.example.com/x', '')).toBeNull();
    expect(webhookProblem(' http://127.0.0.1:9000/hook ', 'x'.repeat(16))).toBeNull();
  });
});
