import { describe, expectTypeOf, it } from 'vitest';

import type { Canary, DeploymentConfig, Provenance, Revision, Run, Scenario, Service } from './types';

// Type-level checks (svelte-check runs them): the generated schemas as the engine writes them.
describe('the engine types', () => {
  it('are the generated schemas, not any', () => {
    expectTypeOf<Service>().not.toBeAny();
    expectTypeOf<Service['name']>().toEqualTypeOf<string>();
  });

  it('have every field the engine always writes, None as null', () => {
    expectTypeOf<Revision['rollback_of']>().toEqualTypeOf<number | null>();
    expectTypeOf<Canary['plan']['steps']>().toEqualTypeOf<number[]>();
    expectTypeOf<Canary['plan']['gates']['min_requests']>().toEqualTypeOf<number>();
    expectTypeOf<DeploymentConfig['sticky']>().toEqualTypeOf<boolean>();
  });

  it('leave optional the fields the engine skips when empty', () => {
    expectTypeOf<DeploymentConfig['shadow']>().toEqualTypeOf<{ generation: string; percent: number } | null | undefined>();
    expectTypeOf<Run['log']>().toEqualTypeOf<string | null | undefined>();
    expectTypeOf<Provenance['source_file']>().toEqualTypeOf<string | null | undefined>();
  });

  it('keep a spec as written: defaults may be left out', () => {
    expectTypeOf<{ name: string; steps: [] }>().toExtend<Scenario>();
  });
});
