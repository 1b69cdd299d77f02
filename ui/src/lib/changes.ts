// The engine's changes, as the window reloads them: a burst of changes (a scenario deploying,
// a canary stepping) becomes one reload per thing shown, not one per change.

import type { Change } from './types';

/** What to reload after a batch of changes. */
export interface Reload {
  /** Everything (the window missed changes). */
  all: boolean;
  /** The services list (a service was created, or one changed). */
  services: boolean;
  /** Services whose versions, deployment or revisions changed. */
  details: Set<string>;
  canaries: Set<string>;
  access: Set<string>;
  scenarios: Set<string>;
}

export function emptyReload(): Reload {
  return { all: false, services: false, details: new Set(), canaries: new Set(), access: new Set(), scenarios: new Set() };
}

/** Adds one change to a batch. */
export function addChange(reload: Reload, change: Change): Reload {
  switch (change.kind) {
    case 'resync':
      reload.all = true;
      break;
    case 'services':
      reload.services = true;
      break;
    case 'service':
      reload.services = true;
      reload.details.add(change.service);
      break;
    case 'canary':
      reload.canaries.add(change.service);
      break;
    case 'access':
      reload.access.add(change.service);
      break;
    case 'scenario':
      reload.scenarios.add(change.scenario);
      break;
  }
  return reload;
}

/**
 * Collects changes and hands each batch to `apply` once `delayMs` has passed since the first
 * change of the batch.
 */
export class ChangeBatcher {
  #pending: Reload | null = null;

  constructor(
    private readonly apply: (reload: Reload) => void,
    private readonly delayMs = 100,
  ) {}

  add(change: Change): void {
    if (!this.#pending) {
      this.#pending = emptyReload();
      setTimeout(() => {
        const batch = this.#pending;
        this.#pending = null;
        if (batch) this.apply(batch);
      }, this.delayMs);
    }
    addChange(this.#pending, change);
  }
}
