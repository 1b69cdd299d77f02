import { describe, expect, it } from 'vitest';

import {
  configFromForm,
  entriesFromSliders,
  initialForm,
  initialShadow,
  newestFirst,
  saveBlocker,
  shadowProblem,
  slidersFromText,
  slidersTotal,
  textFromSliders,
} from './editor';
import type { DeployForm } from './editor';
import { fromText, mappingText, readEntries } from './mapping';
import type { VersionView } from './types';

function version(id: string): VersionView {
  return {
    service: 's',
    id,
    sha256: 'x'.repeat(64),
    size_bytes: 1,
    schema: { input_name: 'X', input_type: 'float32', features: [], output: { kind: 'regressor' } },
    metrics: {},
    provenance: { created_by: 'test' },
    notes: '',
    created_at: '2026-01-01T00:00:00Z',
    live: false,
    live_since: null,
    share: null,
    served_in: [],
  };
}

const versions = ['v1', 'v2', 'v3'].map(version);
const ids = newestFirst(versions);
const known = (g: string) => ids.includes(g);

describe('initial form', () => {
  it('lists versions newest first', () => {
    expect(ids).toEqual(['v3', 'v2', 'v1']);
  });

  it('starts from a multiple config with its mapping', () => {
    const mapping = [
      { generation: 'v2', proba: 0.7 },
      { generation: 'v1', proba: 0.3 },
    ];
    const form = initialForm({ mode: 'multiple', mapping, sticky: true }, versions);
    expect(form).toEqual({
      mode: 'multiple',
      generation: 'v2',
      text: mappingText(mapping),
      sticky: true,
      shadow: { on: false, generation: 'v3', percent: 10 },
    });
    expect(readEntries(form.text)).toEqual(mapping);
  });

  it('starts multiple mode safe from a single config: the live generation at 100 %, the others at 0 %', () => {
    const form = initialForm({ mode: 'single', generation: 'v1', sticky: false }, versions);
    expect(form.mode).toBe('single');
    expect(form.generation).toBe('v1');
    expect(readEntries(form.text)).toEqual([
      { generation: 'v1', proba: 1 },
      { generation: 'v3', proba: 0 },
      { generation: 'v2', proba: 0 },
    ]);
    expect(fromText(form.text, known).ok).toBe(true);
  });

  it('without a deployment picks the newest version', () => {
    expect(initialForm(null, versions)).toMatchObject({ mode: 'single', generation: 'v3', sticky: false });
    expect(initialForm(null, [])).toEqual({
      mode: 'single',
      generation: '',
      text: '[]',
      sticky: false,
      shadow: { on: false, generation: '', percent: 10 },
    });
  });
});

describe('sliders and the mapping text', () => {
  it('show the mapping of the text', () => {
    const text = '[{"generation":"v2","proba":0.7},{"generation":"v1","proba":0.3}]';
    expect(slidersFromText(text, ids)).toEqual({ v3: 0, v2: 70, v1: 30 });
  });

  it('ignore what they cannot show', () => {
    expect(slidersFromText('[{"generation":"v9","proba":0.5},{"generation":"v1","proba":7}]', ids)).toEqual({ v3: 0, v2: 0, v1: 100 });
    expect(slidersFromText('[{"generation":', ids)).toBeNull();
  });

  it('fill a normalised mapping, leaving zero sliders out', () => {
    const sliders = { v3: 50, v2: 50, v1: 0 };
    expect(entriesFromSliders(sliders, ids)).toEqual([
      { generation: 'v3', proba: 0.5 },
      { generation: 'v2', proba: 0.5 },
    ]);
    const text = textFromSliders({ v3: 20, v2: 20, v1: 20 }, ids)!;
    expect(fromText(text, known).ok).toBe(true);
    expect(slidersFromText(text, ids)).toEqual({ v3: 33, v2: 33, v1: 33 });
    expect(textFromSliders({ v3: 0, v2: 0, v1: 0 }, ids)).toBeNull();
    expect(slidersTotal({ v3: 20, v2: 30 })).toBe(50);
  });

  it('round-trip a mapping through the sliders', () => {
    const text = textFromSliders({ v3: 10, v2: 0, v1: 90 }, ids)!;
    expect(readEntries(text)).toEqual([
      { generation: 'v3', proba: 0.1 },
      { generation: 'v1', proba: 0.9 },
    ]);
    expect(slidersFromText(text, ids)).toEqual({ v3: 10, v2: 0, v1: 90 });
  });
});

describe('save', () => {
  const text = '[{"generation":"v2","proba":0.7},{"generation":"v1","proba":0.3}]';
  const off = { on: false, generation: 'v3', percent: 10 };
  const form: DeployForm = { mode: 'multiple', generation: 'v2', text, sticky: false, shadow: off };
  const ok = fromText(text, known);

  it('waits for the engine to agree on the same text', () => {
    expect(saveBlocker(form, ok, { state: 'idle' }, false)).toMatch(/Checking/);
    expect(saveBlocker(form, ok, { state: 'pending', text }, false)).toMatch(/Checking/);
    expect(saveBlocker(form, ok, { state: 'done', text: text + ' ', issues: [] }, false)).toMatch(/Checking/);
    expect(saveBlocker(form, ok, { state: 'done', text, issues: [] }, false)).toBeNull();
    // The live config itself: nothing to deploy (the engine would answer `unchanged`).
    const live = configFromForm(form, ok);
    expect(saveBlocker(form, ok, { state: 'done', text, issues: [] }, false, false, live)).toMatch(/Nothing to deploy/);
    expect(saveBlocker(form, ok, { state: 'done', text, issues: [] }, false, false, { ...live!, sticky: !live!.sticky })).toBeNull();
    expect(saveBlocker(form, ok, { state: 'done', text, issues: [{ index: null, field: null, kind: 'sum', message: 'x' }] }, false)).toMatch(
      /refused/,
    );
    expect(saveBlocker(form, ok, { state: 'failed', text }, false)).toMatch(/could not/);
    expect(saveBlocker(form, ok, { state: 'done', text, issues: [] }, true)).toMatch(/Deploying/);
  });

  it('is blocked by local issues whatever the engine said', () => {
    const bad = { ...form, text: '[{"generation":"v2","proba":0.7}]' };
    expect(saveBlocker(bad, fromText(bad.text, known), { state: 'done', text: bad.text, issues: [] }, false)).toMatch(/Fix/);
  });

  it('single mode needs only a generation', () => {
    const single: DeployForm = { ...form, mode: 'single', text: 'garbage' };
    expect(saveBlocker(single, fromText('garbage', known), { state: 'idle' }, false)).toBeNull();
    expect(saveBlocker({ ...single, generation: '' }, fromText('garbage', known), { state: 'idle' }, false)).toMatch(/Choose/);
  });

  it('builds the config to deploy', () => {
    expect(configFromForm(form, ok)).toEqual({
      mode: 'multiple',
      mapping: [
        { generation: 'v2', proba: 0.7 },
        { generation: 'v1', proba: 0.3 },
      ],
      sticky: false,
    });
    expect(configFromForm({ ...form, mode: 'single', sticky: true }, ok)).toEqual({ mode: 'single', generation: 'v2', sticky: true });
    expect(configFromForm(form, fromText('[]', known))).toBeNull();
  });

  it('waits for an active canary to finish', () => {
    expect(saveBlocker(form, ok, { state: 'done', text, issues: [] }, false, true)).toMatch(/canary/);
    expect(saveBlocker({ ...form, mode: 'single' }, ok, { state: 'idle' }, false, true)).toMatch(/canary/);
  });
});

describe('shadow', () => {
  const text = '[{"generation":"v2","proba":0.7},{"generation":"v1","proba":0.3}]';
  const ok = fromText(text, known);
  const shadowed = (shadow: DeployForm['shadow'], mode: DeployForm['mode'] = 'single'): DeployForm => ({
    mode,
    generation: 'v1',
    text,
    sticky: true,
    shadow,
  });

  it('starts from the active config', () => {
    const config = { mode: 'single' as const, generation: 'v1', sticky: false, shadow: { generation: 'v2', percent: 12.5 } };
    expect(initialForm(config, versions).shadow).toEqual({ on: true, generation: 'v2', percent: 12.5 });
    // Off: the newest version the config does not serve is ready to pick.
    expect(initialShadow({ mode: 'single', generation: 'v3', sticky: false }, ids)).toEqual({ on: false, generation: 'v2', percent: 10 });
    const all = { mode: 'multiple' as const, mapping: ids.map((g) => ({ generation: g, proba: 1 / 3 })), sticky: false };
    expect(initialShadow(all, ids).generation).toBe('v3');
  });

  it('validates the percent, 0 to 50, only when on', () => {
    expect(shadowProblem({ on: false, generation: '', percent: null })).toBeNull();
    expect(shadowProblem({ on: true, generation: 'v3', percent: 0 })).toBeNull();
    expect(shadowProblem({ on: true, generation: 'v3', percent: 50 })).toBeNull();
    expect(shadowProblem({ on: true, generation: 'v3', percent: 7.5 })).toBeNull();
    for (const percent of [null, NaN, -1, 50.5, 100, Infinity]) {
      expect(shadowProblem({ on: true, generation: 'v3', percent })).toMatch(/from 0 to 50/);
    }
    expect(shadowProblem({ on: true, generation: '', percent: 10 })).toMatch(/Choose/);
  });

  it('blocks Save while invalid', () => {
    const bad = shadowed({ on: true, generation: 'v3', percent: 60 });
    expect(saveBlocker(bad, ok, { state: 'idle' }, false)).toMatch(/shadow/);
    expect(configFromForm(bad, ok)).toBeNull();
    expect(saveBlocker(shadowed({ on: false, generation: 'v3', percent: 60 }), ok, { state: 'idle' }, false)).toBeNull();
  });

  it('is deployed with sticky in either mode', () => {
    const shadow = { on: true, generation: 'v3', percent: 10 };
    expect(configFromForm(shadowed(shadow), ok)).toEqual({ mode: 'single', generation: 'v1', sticky: true, shadow: { generation: 'v3', percent: 10 } });
    expect(configFromForm(shadowed(shadow, 'multiple'), ok)).toEqual({
      mode: 'multiple',
      mapping: [
        { generation: 'v2', proba: 0.7 },
        { generation: 'v1', proba: 0.3 },
      ],
      sticky: true,
      shadow: { generation: 'v3', percent: 10 },
    });
    const off = configFromForm(shadowed({ ...shadow, on: false }), ok);
    expect(off).toEqual({ mode: 'single', generation: 'v1', sticky: true });
    expect(off && 'shadow' in off).toBe(false);
  });
});
