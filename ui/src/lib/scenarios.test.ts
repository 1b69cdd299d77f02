import { beforeEach, describe, expect, it, vi } from 'vitest';

import type { Run, ScenarioView } from './types';

// The store talks to the engine only through `api`: replaced here by mocks, with the rest of
// the module (ApiError, toApiError) as it is.
const fake = vi.hoisted(() => ({
  listScenarios: vi.fn(),
  getScenario: vi.fn(),
  scenarioNextFires: vi.fn(),
  scenarioRuns: vi.fn(),
  validateScenario: vi.fn(),
  saveScenario: vi.fn(),
  startScenarioRun: vi.fn(),
  watchScenarioRun: vi.fn(),
  cancelScenarioRun: vi.fn(),
  scenarioRun: vi.fn(),
}));

vi.mock('./api', async (importOriginal) => ({ ...(await importOriginal<typeof import('./api')>()), api: fake }));

const { ScenariosState, RUNS_LIMIT } = await import('./scenarios.svelte');

const T = '2026-03-01T10:00:00Z';

function view(name: string, running: number | null = null): ScenarioView {
  return {
    spec: {
      name,
      description: '',
      variables: {},
      steps: [{ kind: 'run_command', name: 'train', command: 'true', working_dir: null, env: {}, timeout_seconds: 60, outputs: {} }],
      triggers: [],
    },
    created_at: T,
    updated_at: T,
    running,
    last_run: null,
    next_fire: null,
  };
}

function run(id: number, status: Run['status'] = 'running', scenario = 'a'): Run {
  return {
    scenario,
    id,
    trigger: 'manual',
    trigger_detail: 'by hand',
    status,
    message: '',
    steps: [],
    variables: {},
    started_at: T,
    ended_at: status === 'running' ? null : T,
    progress: status === 'running' ? 0 : 1,
  };
}

/** Lets pending promise callbacks run. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

/** A watch that resolves when `end` is called, after the updates sent with `update`. */
function pendingWatch() {
  let end!: (r: Run) => void;
  let onUpdate: ((r: Run) => void) | undefined;
  fake.watchScenarioRun.mockImplementationOnce((input: { onUpdate?: (r: Run) => void }) => {
    onUpdate = input.onUpdate;
    return new Promise<Run>((resolve) => (end = resolve));
  });
  return { update: (r: Run) => onUpdate?.(r), end: (r: Run) => end(r) };
}

beforeEach(() => {
  for (const f of Object.values(fake)) f.mockReset();
  fake.listScenarios.mockResolvedValue([view('a'), view('b')]);
  fake.getScenario.mockImplementation(async (name: string) => view(name));
  fake.scenarioNextFires.mockResolvedValue([]);
  fake.scenarioRuns.mockResolvedValue([]);
  fake.validateScenario.mockResolvedValue([]);
});

describe('the scenarios list', () => {
  it('loads and selects the first scenario, with its spec, fires and runs', async () => {
    fake.scenarioRuns.mockResolvedValue([run(1, 'succeeded')]);
    const s = new ScenariosState(0);
    await s.loadList();
    await settle();
    expect(s.loaded).toBe(true);
    expect(s.scenarios.map((v) => v.spec.name)).toEqual(['a', 'b']);
    expect(s.selected).toBe('a');
    expect(s.view?.spec.name).toBe('a');
    expect(s.runs.map((r) => r.id)).toEqual([1]);
    expect(JSON.parse(s.text)).toEqual(view('a').spec);
    expect(fake.scenarioRuns).toHaveBeenCalledWith({ name: 'a', limit: RUNS_LIMIT });
    expect(fake.watchScenarioRun).not.toHaveBeenCalled();
  });

  it('keeps a failure to list as an ApiError', async () => {
    fake.listScenarios.mockRejectedValueOnce({ code: 'internal', message: 'disk full' });
    const s = new ScenariosState(0);
    await s.loadList();
    expect(s.loaded).toBe(true);
    expect(s.listError?.code).toBe('internal');
    expect(s.selected).toBeNull();
  });

  it('ignores an answer for a scenario no longer selected', async () => {
    let answer!: (v: ScenarioView) => void;
    fake.getScenario.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)));
    const s = new ScenariosState(0);
    const first = s.select('a');
    await s.select('b');
    answer(view('a'));
    await first;
    expect(s.selected).toBe('b');
    expect(s.view?.spec.name).toBe('b');
  });

  it('shows a missing scenario as an error', async () => {
    fake.getScenario.mockRejectedValueOnce({ code: 'scenario_not_found', message: 'no scenario x' });
    const s = new ScenariosState(0);
    await s.select('x');
    expect(s.error?.code).toBe('scenario_not_found');
  });
});

describe('the spec editor', () => {
  it('does not send text that is not JSON: it cannot be saved', async () => {
    const s = new ScenariosState(0);
    await s.select('a');
    s.edit('{"name": ');
    expect(await s.validate()).toBeNull();
    await settle();
    expect(fake.validateScenario).not.toHaveBeenCalled();
    expect(s.issues).toBeNull();
    expect(s.saveBlocker).toBe('Fix the JSON first');
    await s.save();
    expect(fake.saveScenario).not.toHaveBeenCalled();
  });

  it('the engine checks the text once typing pauses; its verdict holds for that text only', async () => {
    const issue = { path: 'steps[0].name', step: 0, message: 'empty' };
    const s = new ScenariosState(0);
    await s.select('a');
    expect(s.issues).toBeNull();
    fake.validateScenario.mockResolvedValueOnce([issue]);
    const text = s.text.replace('"train"', '""');
    s.edit(text);
    await settle();
    await settle();
    expect(fake.validateScenario).toHaveBeenCalledTimes(1);
    expect(fake.validateScenario).toHaveBeenCalledWith(JSON.parse(text));
    expect(s.issues).toEqual([issue]);
    expect(s.saveBlocker).toBe('Fix the problems first');
    s.edit(text + ' ');
    expect(s.issues).toBeNull();
  });

  it('an answer for text edited since is dropped', async () => {
    let answer!: (v: unknown) => void;
    fake.validateScenario.mockImplementationOnce(() => new Promise((resolve) => (answer = resolve)));
    const s = new ScenariosState(0);
    await s.select('a');
    const pending = s.validate();
    s.edit('{}');
    answer([{ path: 'name', step: null, message: 'x' }]);
    await pending;
    expect(s.verdict).toBeNull();
  });

  it('knows unsaved edits, and says what leaving would discard', async () => {
    const s = new ScenariosState(0);
    await s.select('a');
    expect(s.dirty).toBe(false);
    expect(s.leaveMessage()).toBeNull();
    expect(s.saveBlocker).toBe('Nothing to save: the spec is as saved');
    s.edit(s.text.replace('"train"', '"fit"'));
    expect(s.dirty).toBe(true);
    expect(s.leaveMessage()).toMatch(/edits to a are not saved/);
    expect(s.saveBlocker).toBeNull();
    await s.select('b');
    expect(s.dirty).toBe(false);
  });

  it('saves only what the engine finds no problem with, then shows the saved scenario', async () => {
    fake.saveScenario.mockResolvedValueOnce(view('c'));
    const s = new ScenariosState(0);
    await s.select('a');
    s.edit(JSON.stringify({ ...view('c').spec }));
    await s.save();
    expect(fake.validateScenario).toHaveBeenCalledWith(view('c').spec);
    expect(fake.saveScenario).toHaveBeenCalledWith(view('c').spec);
    expect(fake.listScenarios).toHaveBeenCalled();
    expect(s.selected).toBe('c');
    expect(s.saved).toBe(true);
    expect(s.dirty).toBe(false);
    expect(s.busy).toBe(false);
    expect(s.error).toBeNull();
    s.edit('{}');
    expect(s.saved).toBe(false);
  });

  it('shows every problem instead of saving', async () => {
    const issues = [
      { path: 'steps[0].timeout_seconds', step: 0, message: 'not a number' },
      { path: 'triggers[0].schedule', step: null, message: "'x' is not a cron pattern" },
    ];
    fake.validateScenario.mockResolvedValueOnce(issues);
    const s = new ScenariosState(0);
    await s.select('a');
    s.edit('{"name": "a", "steps": []}');
    await s.save();
    expect(fake.saveScenario).not.toHaveBeenCalled();
    expect(s.issues).toEqual(issues);
    expect(s.saved).toBe(false);
    expect(s.busy).toBe(false);
  });

  it('keeps a refused save as an error, the text as edited', async () => {
    fake.saveScenario.mockRejectedValueOnce({ code: 'invalid_input', message: 'steps: empty' });
    const s = new ScenariosState(0);
    await s.select('a');
    s.edit('{"name": "a", "steps": []}');
    await s.save();
    expect(s.error?.code).toBe('invalid_input');
    expect(s.saved).toBe(false);
    expect(s.busy).toBe(false);
    expect(s.text).toBe('{"name": "a", "steps": []}');
  });
});

describe('a new scenario', () => {
  it('starts from a template with a free name, checked at once, and is saved into the list', async () => {
    const s = new ScenariosState(0);
    await s.loadList();
    await settle();
    s.startNew(['iris']);
    expect(s.creating).toBe(true);
    expect(s.selected).toBeNull();
    expect(s.view).toBeNull();
    expect(s.dirty).toBe(false);
    expect(s.saveBlocker).toBeNull();
    const spec = JSON.parse(s.text);
    expect(spec.name).toBe('new_scenario');
    expect(spec.steps[0]).toMatchObject({ kind: 'export_capture', service: 'iris' });
    await settle();
    expect(fake.validateScenario).toHaveBeenCalledWith(spec);
    // A reload of the list (a change elsewhere) does not replace it with the first scenario.
    await s.loadList();
    await settle();
    expect(s.creating).toBe(true);
    expect(s.selected).toBeNull();

    s.edit(s.text.replace('"export"', '"export_all"'));
    expect(s.leaveMessage()).toMatch(/new scenario is not saved/);
    fake.saveScenario.mockResolvedValueOnce(view('new_scenario'));
    await s.save();
    expect(s.creating).toBe(false);
    expect(s.selected).toBe('new_scenario');
    expect(s.dirty).toBe(false);
  });
});

describe('runs', () => {
  it('runs now and follows the run live until it ends', async () => {
    const watch = pendingWatch();
    fake.startScenarioRun.mockResolvedValueOnce(run(7));
    const s = new ScenariosState(0);
    await s.select('a');
    await s.runNow();
    expect(fake.startScenarioRun).toHaveBeenCalledWith('a');
    expect(s.run?.id).toBe(7);
    expect(s.running).toBe(true);
    expect(s.watching).toBe(7);
    expect(fake.watchScenarioRun).toHaveBeenCalledWith(expect.objectContaining({ name: 'a', id: 7 }));

    watch.update({ ...run(7), progress: 0.5, log: 'step 1\n' });
    expect(s.run?.log).toBe('step 1\n');

    fake.scenarioRuns.mockResolvedValue([run(7, 'succeeded')]);
    watch.end(run(7, 'succeeded'));
    await settle();
    expect(s.run?.status).toBe('succeeded');
    expect(s.running).toBe(false);
    expect(s.watching).toBeNull();
    expect(s.runs.map((r) => r.status)).toEqual(['succeeded']);
    expect(fake.listScenarios).toHaveBeenCalled();
  });

  it('follows a run once, and shows it only while its scenario is selected', async () => {
    const watch = pendingWatch();
    const s = new ScenariosState(0);
    await s.select('a');
    void s.follow('a', 3);
    void s.follow('a', 3);
    expect(fake.watchScenarioRun).toHaveBeenCalledTimes(1);
    await s.select('b');
    watch.update(run(3));
    watch.end(run(3, 'failed'));
    await settle();
    expect(s.run).toBeNull();
    expect(s.watching).toBeNull();
  });

  it('follows the run in progress of a scenario it selects', async () => {
    pendingWatch();
    fake.getScenario.mockResolvedValueOnce(view('a', 5));
    const s = new ScenariosState(0);
    await s.select('a');
    expect(fake.watchScenarioRun).toHaveBeenCalledWith(expect.objectContaining({ name: 'a', id: 5 }));
    expect(s.watching).toBe(5);
  });

  it('opens a run of the table, following it if it still runs', async () => {
    pendingWatch();
    fake.scenarioRun.mockResolvedValueOnce({ ...run(2, 'failed'), log: 'boom' }).mockResolvedValueOnce(run(4));
    const s = new ScenariosState(0);
    await s.select('a');
    await s.openRun(2);
    expect(s.run?.log).toBe('boom');
    expect(fake.watchScenarioRun).not.toHaveBeenCalled();
    await s.openRun(4);
    expect(fake.watchScenarioRun).toHaveBeenCalledWith(expect.objectContaining({ name: 'a', id: 4 }));
  });

  it('cancels the run shown', async () => {
    pendingWatch();
    fake.startScenarioRun.mockResolvedValueOnce(run(8));
    fake.cancelScenarioRun.mockResolvedValueOnce(run(8, 'cancelled'));
    const s = new ScenariosState(0);
    await s.select('a');
    await s.runNow();
    await s.cancel();
    expect(fake.cancelScenarioRun).toHaveBeenCalledWith({ name: 'a', id: 8 });
    expect(s.run?.status).toBe('cancelled');
  });

  it('keeps a refused start as an error', async () => {
    fake.startScenarioRun.mockRejectedValueOnce({ code: 'run_conflict', message: 'a run is in progress' });
    const s = new ScenariosState(0);
    await s.select('a');
    await s.runNow();
    expect(s.error?.code).toBe('run_conflict');
    expect(s.busy).toBe(false);
    expect(fake.watchScenarioRun).not.toHaveBeenCalled();
  });
});
