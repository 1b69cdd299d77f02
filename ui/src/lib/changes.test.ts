import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';

import { ChangeBatcher, addChange, emptyReload } from './changes';
import type { Reload } from './changes';

describe('changes', () => {
  it('turn into what to reload', () => {
    const r = emptyReload();
    addChange(r, { kind: 'service', service: 'iris' });
    addChange(r, { kind: 'service', service: 'iris' });
    addChange(r, { kind: 'canary', service: 'iris' });
    addChange(r, { kind: 'access', service: 'churn' });
    addChange(r, { kind: 'scenario', scenario: 'retrain' });
    expect(r).toEqual({
      all: false,
      services: true,
      details: new Set(['iris']),
      canaries: new Set(['iris']),
      access: new Set(['churn']),
      scenarios: new Set(['retrain']),
    });
    expect(addChange(emptyReload(), { kind: 'services' }).services).toBe(true);
    expect(addChange(emptyReload(), { kind: 'resync' }).all).toBe(true);
  });

  describe('batches', () => {
    beforeEach(() => vi.useFakeTimers());
    afterEach(() => vi.useRealTimers());

    it('apply one reload per burst, then start a new batch', () => {
      const applied: Reload[] = [];
      const b = new ChangeBatcher((r) => applied.push(r), 100);
      b.add({ kind: 'service', service: 'iris' });
      vi.advanceTimersByTime(50);
      b.add({ kind: 'service', service: 'wine' });
      expect(applied).toHaveLength(0);
      vi.advanceTimersByTime(50);
      expect(applied).toHaveLength(1);
      expect(applied[0].details).toEqual(new Set(['iris', 'wine']));
      b.add({ kind: 'canary', service: 'iris' });
      vi.advanceTimersByTime(100);
      expect(applied).toHaveLength(2);
      expect(applied[1].details.size).toBe(0);
      expect(applied[1].canaries).toEqual(new Set(['iris']));
    });
  });
});
