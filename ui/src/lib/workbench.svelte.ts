// Run & test's state per service (and node), kept here rather than in the screen so the
// inputs, the last answer and the last run survive switching tabs or services and back.

import type { ApiError } from './api';
import type { FeatureValues } from './request';
import type { RunProgress, RunReport, RunResult } from './types';
import type { SampleSource } from './workbench';

export class Bench {
  /** The request as the editor has it; null while it does not parse. */
  request = $state<FeatureValues | null>(null);
  /** The last request that parsed: the editor starts from it when shown again. */
  saved = $state<FeatureValues | null>(null);
  /** Where the request's values came from, when a sample row filled it. */
  sample = $state<SampleSource | null>(null);
  /** Bumped to re-create the editor from `saved` (a sample row was taken). */
  edits = $state(0);
  forced = $state('');
  count = $state(100);
  /** A CSV of rows chosen to send, each row one request. */
  rows = $state<{ name: string; text: string } | null>(null);
  running = $state<'once' | 'run' | 'rows' | null>(null);
  progress = $state<RunProgress | null>(null);
  single = $state<RunResult | null>(null);
  report = $state<RunReport | null>(null);
  error = $state<ApiError | null>(null);

  /** Takes what the editor holds; a request that parses is kept for next time. The last
   * error is stale once the input changed. */
  edit(request: FeatureValues | null): void {
    if (JSON.stringify(request) !== JSON.stringify(this.request)) this.error = null;
    this.request = request;
    if (request) this.saved = request;
  }

  /** Fills the inputs with a sample row (the editor is re-created with it). */
  fill(values: FeatureValues, source: SampleSource): void {
    this.saved = values;
    this.request = values;
    this.sample = source;
    this.error = null;
    this.edits++;
  }
}

class Workbench {
  /** Plain (not reactive): a bench is created on first read, which a `$derived` may do. */
  #benches = new Map<string, Bench>();

  /** The bench of a service on a node (null: the local node). */
  of(infra: string | null, service: string): Bench {
    const key = `${infra ?? ''}\u0000${service}`;
    let bench = this.#benches.get(key);
    if (!bench) {
      bench = new Bench();
      this.#benches.set(key, bench);
    }
    return bench;
  }
}

export const workbench = new Workbench();
