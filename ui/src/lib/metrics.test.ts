import { describe, expect, it } from 'vitest';

import { parseMetricLines } from './metrics';

describe('metric lines', () => {
  it('reads name=value lines', () => {
    expect(parseMetricLines('accuracy=0.93\n  f1 = 0.9 \n\n# comment\nr2=-1e-3')).toEqual({
      ok: true,
      metrics: { accuracy: 0.93, f1: 0.9, r2: -0.001 },
    });
    expect(parseMetricLines('')).toEqual({ ok: true, metrics: {} });
  });

  it('names the bad line', () => {
    expect(parseMetricLines('accuracy=0.9\naccuracy 0.9')).toMatchObject({ ok: false, message: expect.stringMatching(/^line 2: .*name=value/) });
    expect(parseMetricLines('accuracy=high')).toMatchObject({ ok: false, message: expect.stringContaining("needs a finite number, got 'high'") });
    expect(parseMetricLines('a=')).toMatchObject({ ok: false });
    expect(parseMetricLines('a=Infinity')).toMatchObject({ ok: false });
    expect(parseMetricLines('a=0x10')).toMatchObject({ ok: false });
    expect(parseMetricLines('=1')).toMatchObject({ ok: false });
  });
});
