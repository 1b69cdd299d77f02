// The Scenarios screen's state and orchestration: the list, the selected scenario (spec, next
// fire times, last runs) or a new one, the spec editor (the engine checks the text as it is
// typed, save, unsaved edits), and the run shown, followed live while it runs. The screen
// only renders it and calls its methods; each failure is kept as an ApiError for a banner.
// One instance per mounted screen.

import { api, toApiError } from './api';
import type { ApiError } from './api';
import { parseJson } from './json';
import { isRunning, newScenario, parseSpec, specText } from './scenario';
import type { Run, ScenarioIssue, ScenarioView, TriggerFires } from './types';

/** How many of the last runs the table lists. */
export const RUNS_LIMIT = 20;
/** How many next fire times each trigger shows. */
export const FIRES_COUNT = 3;
/** How long typing pauses before the engine checks the text. */
export const CHECK_DELAY_MS = 400;

export class ScenariosState {
  /** `checkDelay`: how long typing pauses before the engine checks the text. */
  constructor(readonly checkDelay: number = CHECK_DELAY_MS) {}

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
  /** The spec as saved (or as "New scenario" started it): edits differ from it. */
  baseline = $state('');
  /** The editor holds a scenario not saved yet. */
  creating = $state(false);
  /** The engine's problems with one text (empty: none). */
  verdict = $state<{ text: string; issues: ScenarioIssue[] } | null>(null);
  busy = $state(false);
  saved = $state(false);
  #timer: ReturnType<typeof setTimeout> | undefined;

  /** The engine's problems with the text as it is now; null until it has checked this text. */
  get issues(): ScenarioIssue[] | null {
    return this.verdict !== null && this.verdict.text === this.text ? this.verdict.issues : null;
  }

  /** Whether the text differs from the spec as saved. */
  get dirty(): boolean {
    return this.text !== this.baseline;
  }

  /** What leaving the editor now would lose, or null. */
  leaveMessage(): string | null {
    if (!this.dirty) return null;
    return this.creating ? 'The new scenario is not saved: leaving discards it.' : `Your edits to ${this.selected} are not saved: leaving discards them.`;
  }

  /** Why Save cannot run now, or null when it can. */
  get saveBlocker(): string | null {
    if (this.busy) return 'Working…';
    if (!this.creating && !this.dirty) return 'Nothing to save: the spec is as saved';
    if (!parseJson(this.text).ok) return 'Fix the JSON first';
    if (this.issues !== null && this.issues.length > 0) return 'Fix the problems first';
    return null;
  }

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
      if (this.selected === null && !this.creating && this.scenarios.length > 0) void this.select(this.scenarios[0].spec.name);
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
    this.creating = false;
    this.error = null;
    this.verdict = null;
    this.saved = false;
    this.run = null;
    clearTimeout(this.#timer);
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
      this.baseline = this.text;
      if (view.running !== null) void this.follow(name, view.running);
    } catch (e) {
      this.error = toApiError(e, 'get_scenario');
    }
  }

  /** Starts a new scenario from the template (valid as it stands) for the editor. */
  startNew(services: string[]): void {
    clearTimeout(this.#timer);
    this.creating = true;
    this.selected = null;
    this.view = null;
    this.fires = [];
    this.runs = [];
    this.run = null;
    this.error = null;
    this.saved = false;
    this.verdict = null;
    this.text = specText(newScenario(services, this.scenarios.map((s) => s.spec.name)));
    this.baseline = this.text;
    this.#schedule();
  }

  /** The text was edited: "Saved." no longer applies; the engine checks it once typing pauses. */
  edit(text: string): void {
    if (text === this.text) return;
    this.text = text;
    this.saved = false;
    this.#schedule();
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.validate(), this.checkDelay);
  }

  /** Stops the pending check (the screen is gone). */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  /**
   * The engine's problems with the text as it is now, every one at once (empty: it can be
   * saved). A text that is not JSON is not sent: its syntax error is marked where it is.
   */
  async validate(): Promise<ScenarioIssue[] | null> {
    clearTimeout(this.#timer);
    const text = this.text;
    const parsed = parseSpec(text);
    if (!parsed.ok) return null;
    try {
      const issues = await api.validateScenario(parsed.spec);
      if (this.text === text) this.verdict = { text, issues };
      this.error = null;
      return issues;
    } catch (e) {
      this.error = toApiError(e, 'validate_scenario');
      return null;
    }
  }

  /**
   * Saves the spec as edited when the engine finds no problem with it (else its problems are
   * shown, every one), then shows the list and the saved scenario as they are now.
   */
  async save(): Promise<void> {
    const text = this.text;
    const parsed = parseSpec(text);
    if (!parsed.ok) return;
    this.busy = true;
    this.saved = false;
    try {
      const issues = await this.validate();
      if (issues === null || issues.length > 0) return;
      const view = await api.saveScenario(parsed.spec);
      this.error = null;
      this.creating = false;
      this.selected = view.spec.name;
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
