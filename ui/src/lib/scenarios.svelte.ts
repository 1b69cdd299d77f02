// The Scenarios screen's state and orchestration: the list, the selected scenario (spec, next
// fire times, last runs), the spec editor (check, validate, save), and the run shown, followed
// live while it runs. The screen only renders it and calls its methods; each failure is kept
// as an ApiError for a banner. One instance per mounted screen.

import { api, toApiError } from './api';
import type { ApiError } from './api';
import { isRunning, parseSpec, specText } from './scenario';
import type { Run, ScenarioIssue, ScenarioView, TriggerFires } from './types';

/** How many of the last runs the table lists. */
export const RUNS_LIMIT = 20;
/** How many next fire times each trigger shows. */
export const FIRES_COUNT = 3;

export class ScenariosState {
  scenarios = $state<ScenarioView[]>([]);
  loaded = $state(false);
  listError = $state<ApiError | null>(null);

  selected = $state<string | null>(null);
  view = $state<ScenarioView | null>(null);
  fires = $state<TriggerFires[]>([]);
  runs = $state<Run[]>([]);
  error = $state<ApiError | null>(null);

  /** The spec as edited. */
  text = $state('');
  /** The last check's problems (empty: none), null when the text has not been checked. */
  issues = $state<ScenarioIssue[] | null>(null);
  busy = $state(false);
  saved = $state(false);

  /** The run shown in the run panel (live while running, or one clicked in the table). */
  run = $state<Run | null>(null);
  /** The run being followed, if any. */
  watching = $state<number | null>(null);

  /** Whether the run shown is running (Run now is off, Cancel is on). */
  get running(): boolean {
    return isRunning(this.run);
  }

  /** The list; selects the first scenario when none is. */
  async loadList(): Promise<void> {
    try {
      this.scenarios = await api.listScenarios();
      this.listError = null;
      if (this.selected === null && this.scenarios.length > 0) void this.select(this.scenarios[0].spec.name);
    } catch (e) {
      this.listError = toApiError(e, 'list_scenarios');
    } finally {
      this.loaded = true;
    }
  }

  async loadRuns(name: string): Promise<void> {
    this.runs = await api.scenarioRuns({ name, limit: RUNS_LIMIT });
  }

  /** Shows a scenario: its spec in the editor, its triggers' next fires, its last runs; follows
   * its run in progress. */
  async select(name: string): Promise<void> {
    this.selected = name;
    this.error = null;
    this.issues = null;
    this.saved = false;
    this.run = null;
    try {
      const [view, fires, runs] = await Promise.all([
        api.getScenario(name),
        api.scenarioNextFires({ name, count: FIRES_COUNT }),
        api.scenarioRuns({ name, limit: RUNS_LIMIT }),
      ]);
      if (this.selected !== name) return;
      this.view = view;
      this.fires = fires;
      this.runs = runs;
      this.text = specText(view.spec);
      if (view.running !== null) void this.follow(name, view.running);
    } catch (e) {
      this.error = toApiError(e, 'get_scenario');
    }
  }

  /** The text was edited: the last check and "Saved." no longer apply. */
  edit(text: string): void {
    this.text = text;
    this.issues = null;
    this.saved = false;
  }

  /** The spec as JSON, or undefined with the parse problem as the only issue. */
  #spec(): unknown | undefined {
    const parsed = parseSpec(this.text);
    if (!parsed.ok) {
      this.issues = [parsed.issue];
      return undefined;
    }
    return parsed.spec;
  }

  /** The engine's problems with the spec as edited (empty: it can be saved). */
  async validate(): Promise<void> {
    const spec = this.#spec();
    if (spec === undefined) return;
    this.busy = true;
    try {
      this.issues = await api.validateScenario(spec);
      this.error = null;
    } catch (e) {
      this.error = toApiError(e, 'validate_scenario');
    } finally {
      this.busy = false;
    }
  }

  /** Saves the spec as edited, then shows the list and the saved scenario as they are now. */
  async save(): Promise<void> {
    const spec = this.#spec();
    if (spec === undefined) return;
    this.busy = true;
    this.saved = false;
    try {
      const view = await api.saveScenario(spec);
      this.issues = null;
      this.error = null;
      await this.loadList();
      await this.select(view.spec.name);
      this.saved = true;
    } catch (e) {
      this.error = toApiError(e, 'save_scenario');
    } finally {
      this.busy = false;
    }
  }

  /** Streams run `id` into the run panel (while its scenario is selected) until it ends; then
   * the runs table and the list. Once per run. */
  async follow(name: string, id: number): Promise<void> {
    if (this.watching === id) return;
    this.watching = id;
    try {
      const last = await api.watchScenarioRun({
        name,
        id,
        onUpdate: (r) => {
          if (this.selected === name) this.run = r;
        },
      });
      if (this.selected === name) {
        this.run = last;
        await this.loadRuns(name);
      }
      void this.loadList();
    } catch (e) {
      this.error = toApiError(e, 'watch_scenario_run');
    } finally {
      if (this.watching === id) this.watching = null;
    }
  }

  /** Starts a run of the selected scenario and follows it. */
  async runNow(): Promise<void> {
    const name = this.selected;
    if (!name) return;
    this.busy = true;
    try {
      const run = await api.startScenarioRun(name);
      this.run = run;
      this.error = null;
      void this.loadRuns(name);
      void this.follow(name, run.id);
    } catch (e) {
      this.error = toApiError(e, 'start_scenario_run');
    } finally {
      this.busy = false;
    }
  }

  /** Cancels the run shown. */
  async cancel(): Promise<void> {
    if (!this.selected || !this.run) return;
    try {
      this.run = await api.cancelScenarioRun({ name: this.selected, id: this.run.id });
    } catch (e) {
      this.error = toApiError(e, 'cancel_scenario_run');
    }
  }

  /** Shows a run of the table with its log; follows it if it still runs. */
  async openRun(id: number): Promise<void> {
    const name = this.selected;
    if (!name) return;
    try {
      const run = await api.scenarioRun({ name, id });
      this.run = run;
      this.error = null;
      if (isRunning(run)) void this.follow(name, id);
    } catch (e) {
      this.error = toApiError(e, 'scenario_run');
    }
  }
}
