import { describe, expect, it } from 'vitest';

import {
  activeRevision,
  artifactStoreSummary,
  bytes,
  clock,
  configSummary,
  fullTime,
  describeChange,
  isSoleLive,
  liveSummary,
  metric,
  ms,
  pct,
  prediction,
  relativeTime,
  plural,
  rollbackTarget,
  sameConfig,
  trafficShift,
  shadowSummary,
  shortSha,
} from './format';
import type { DeploymentConfig, Revision } from './types';

const single = (generation: string): DeploymentConfig => ({ mode: 'single', generation, sticky: false });
const multi: DeploymentConfig = {
  mode: 'multiple',
  mapping: [
    { generation: 'v2', proba: 0.7 },
    { generation: 'v1', proba: 0.3 },
  ],
  sticky: true,
};

function rev(number: number, config: DeploymentConfig): Revision {
  return { service: 's', node: 'local', number, config, kind: 'deploy', rollback_of: null, author: 'me', reason: '', created_at: '2026-01-01T00:00:00Z', canary_id: null };
}

describe('config summaries', () => {
  it('writes shares', () => {
    expect(pct(0.7)).toBe('70%');
    expect(pct(0.705)).toBe('70.5%');
    expect(pct(1 / 3)).toBe('33.3%');
    expect(pct(0)).toBe('0%');
    expect(pct(0.12345, 2)).toBe('12.35%');
  });
  it('summarises configs', () => {
    expect(configSummary(single('v2'))).toBe('single v2');
    expect(configSummary(multi)).toBe('v2 70% · v1 30%');
    expect(configSummary(null)).toBe('not deployed');
    expect(liveSummary(single('v2'))).toBe('v2 100%');
    expect(liveSummary(multi)).toBe('v2 70% · v1 30%');
  });
  it('shows the shadow after the live generations', () => {
    const shadow = { generation: 'v3', percent: 10 };
    expect(liveSummary({ ...multi, shadow })).toBe('v2 70% · v1 30% · shadow v3 10%');
    expect(configSummary({ ...multi, shadow })).toBe('v2 70% · v1 30% · shadow v3 10%');
    expect(configSummary({ ...single('v2'), shadow: { generation: 'v3', percent: 2.5 } })).toBe('single v2 · shadow v3 2.5%');
    expect(liveSummary({ ...single('v2'), shadow: { generation: 'v3', percent: 0 } })).toBe('v2 100% · shadow v3 0%');
    expect(configSummary({ ...single('v2'), shadow: null })).toBe('single v2');
    expect(shadowSummary(null)).toBe('');
    expect(describeChange(single('v2'), { ...single('v2'), shadow })).toBe('single v2 → single v2 · shadow v3 10%');
  });
  it('describes a change', () => {
    expect(describeChange(single('v1'), single('v2'))).toBe('single v1 → single v2');
    expect(describeChange(null, single('v1'))).toBe('not deployed → single v1');
    expect(describeChange(multi, single('v3'))).toBe('v2 70% · v1 30% → single v3');
  });
  it('knows the sole live generation', () => {
    expect(isSoleLive(single('v2'), 'v2')).toBe(true);
    expect(isSoleLive(single('v2'), 'v1')).toBe(false);
    expect(isSoleLive(multi, 'v2')).toBe(false);
    expect(isSoleLive(null, 'v2')).toBe(false);
  });
});

describe('revisions', () => {
  it('finds the active revision and the rollback target', () => {
    const revs = [rev(1, single('v1')), rev(2, single('v2')), rev(3, multi)];
    expect(activeRevision(revs)?.number).toBe(3);
    expect(rollbackTarget(revs)).toEqual({ revision: revs[1], why: 'the previous revision' });
    expect(rollbackTarget([rev(1, single('v1'))])).toBeNull();
    expect(activeRevision([])).toBeNull();
    expect(rollbackTarget([])).toBeNull();
    // An earlier revision with the live config is skipped.
    const again = [rev(1, single('v1')), rev(2, single('v2')), rev(3, single('v2'))];
    expect(rollbackTarget(again)?.revision.number).toBe(1);
    expect(rollbackTarget(again)?.why).toMatch(/differs/);
    expect(rollbackTarget([rev(1, single('v1')), rev(2, single('v1'))])).toBeNull();
  });
  it('after a canary, the rollback target is what served before it (the engine rule)', () => {
    const canary = (number: number, config: DeploymentConfig) => ({ ...rev(number, config), canary_id: 7 });
    const promoted = [rev(1, single('v0')), rev(2, single('v1')), canary(3, multi), canary(4, multi), canary(5, single('v2'))];
    expect(rollbackTarget(promoted)).toEqual({ revision: promoted[1], why: 'the revision live before canary 7 started' });
    expect(rollbackTarget(promoted.slice(0, 4))?.revision.number).toBe(2);
    const rolledBack = [...promoted.slice(0, 4), canary(5, single('v1'))];
    expect(rollbackTarget(rolledBack)?.revision.number).toBe(1);
  });
  it('says how much traffic a change moves', () => {
    expect(trafficShift(single('v1'), multi)).toEqual({
      rows: [
        { generation: 'v2', before: 0, after: 0.7 },
        { generation: 'v1', before: 1, after: 0.3 },
      ],
      moved: 0.7,
    });
    expect(trafficShift(multi, single('v2')).moved).toBe(0.3);
    expect(trafficShift(single('v2'), { ...single('v2'), sticky: true }).moved).toBe(0);
    expect(trafficShift(null, single('v1'))).toEqual({ rows: [{ generation: 'v1', before: 0, after: 1 }], moved: 1 });
  });
  it('compares configs the way the engine refuses unchanged ones', () => {
    expect(sameConfig(single('v1'), single('v1'))).toBe(true);
    expect(sameConfig(single('v1'), { ...single('v1'), shadow: null })).toBe(true);
    expect(sameConfig(single('v1'), { ...single('v1'), sticky: true })).toBe(false);
    expect(sameConfig(single('v1'), { ...single('v1'), shadow: { generation: 'v2', percent: 10 } })).toBe(false);
    expect(sameConfig(multi, { ...multi, mapping: [...multi.mapping] })).toBe(true);
    expect(sameConfig(multi, { ...multi, mapping: [...multi.mapping].reverse() })).toBe(false);
    expect(sameConfig(multi, single('v2'))).toBe(false);
    expect(sameConfig(null, single('v2'))).toBe(false);
  });
});

describe('times and numbers', () => {
  const now = Date.parse('2026-05-01T12:00:00Z');
  it('writes relative times', () => {
    expect(relativeTime('2026-05-01T11:59:58Z', now)).toBe('just now');
    expect(relativeTime('2026-05-01T11:59:30Z', now)).toBe('30 s ago');
    expect(relativeTime('2026-05-01T12:00:20Z', now)).toBe('just now');
    expect(relativeTime('2026-05-01T12:05:00Z', now)).toBe('in 5 min');
    expect(relativeTime('2026-05-01T11:57:00Z', now)).toBe('3 min ago');
    expect(relativeTime('2026-05-01T09:00:00Z', now)).toBe('3 h ago');
    expect(relativeTime('2026-04-28T12:00:00Z', now)).toBe('3 d ago');
    expect(relativeTime('2025-01-01T00:00:00Z', now)).toBe('2025-01-01');
    expect(relativeTime('2026-05-01T12:05:00Z', now)).toBe('in 5 min');
    expect(relativeTime(null, now)).toBe('—');
  });
  it('writes sizes, metrics, latencies, hashes', () => {
    expect(bytes(512)).toBe('512 B');
    expect(bytes(2048)).toBe('2.0 KiB');
    expect(bytes(3 * 1024 * 1024)).toBe('3.0 MiB');
    expect(metric(0.93333333)).toBe('0.9333');
    expect(metric(12345.678)).toBe('12345.68');
    expect(metric(3)).toBe('3');
    expect(ms(0.1234)).toBe('0.12');
    expect(ms(12.345)).toBe('12.3');
    expect(ms(1234.5)).toBe('1235');
    expect(ms(undefined)).toBe('—');
    expect(shortSha('0123456789abcdef0123')).toBe('0123456789ab');
    expect(prediction('setosa')).toBe('setosa');
    expect(prediction(151.33333333)).toBe('151.33');
    expect(prediction(null)).toBe('—');
    expect(prediction(undefined)).toBe('—');
    expect(prediction([1, 2])).toBe('[1,2]');
  });
});

describe('plural', () => {
  it('agrees with the count', () => {
    expect(plural(1, 'revision')).toBe('1 revision');
    expect(plural(0, 'revision')).toBe('0 revisions');
    expect(plural(3, 'revision')).toBe('3 revisions');
  });
});

describe('artifactStoreSummary', () => {
  it('says the data dir is this computer and not shared', () => {
    expect(artifactStoreSummary({ kind: 'data_dir', location: 'data dir', shared: false, cache: null })).toEqual({
      place: 'this computer',
      detail: 'data dir · not shared with other nodes',
    });
  });
  it('names a shared store with what this node has cached', () => {
    const info = { kind: 's3', location: 's3://models/prod', shared: true, cache: { artifacts: 3, bytes: 2048 } } as const;
    expect(artifactStoreSummary(info)).toEqual({ place: 's3://models/prod', detail: 'shared · cache: 3 models, 2.0 KiB' });
    expect(artifactStoreSummary({ ...info, cache: { artifacts: 1, bytes: 10 } }).detail).toBe('shared · cache: 1 model, 10 B');
  });
});

describe('one clock across the console', () => {
  const t = Date.parse('2026-11-22T14:05:09Z');
  const gb = { locale: 'en-GB', timeZone: 'UTC' };
  it('writes times of day in the locale\'s clock', () => {
    expect(clock(t, gb)).toBe('14:05');
    expect(clock(t, { ...gb, seconds: true })).toBe('14:05:09');
    expect(clock(t, { locale: 'en-US', timeZone: 'UTC' })).toBe('02:05 PM');
    expect(clock(t, { locale: 'en-GB', timeZone: 'Europe/Paris' })).toBe('15:05');
    expect(clock(Number.NaN)).toBe('—');
  });
  it('writes full times with their date in the same clock', () => {
    expect(fullTime('2026-11-22T14:05:09Z', gb)).toBe('22 Nov 2026, 14:05:09');
    expect(fullTime('2026-11-22T14:05:09Z', gb)).toContain(clock(t, { ...gb, seconds: true }));
    expect(fullTime('not a time', gb)).toBe('not a time');
    expect(fullTime(null)).toBe('');
  });
});
