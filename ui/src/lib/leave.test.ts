import { describe, expect, it, vi } from 'vitest';

import { LeaveGuard } from './leave.svelte';

describe('leave guard', () => {
  it('goes at once with nothing to lose', () => {
    const guard = new LeaveGuard();
    const go = vi.fn();
    expect(guard.attempt(go)).toBe(true);
    expect(go).toHaveBeenCalledTimes(1);
    guard.set(() => null);
    expect(guard.attempt(go)).toBe(true);
    expect(go).toHaveBeenCalledTimes(2);
    expect(guard.pending).toBeNull();
  });

  it('asks first with unsaved edits; goes on confirm, stays on cancel', () => {
    const guard = new LeaveGuard();
    let dirty = true;
    guard.set(() => (dirty ? 'Unsaved edits to a' : null));
    const go = vi.fn();
    expect(guard.attempt(go)).toBe(false);
    expect(go).not.toHaveBeenCalled();
    expect(guard.pending?.message).toBe('Unsaved edits to a');
    guard.cancel();
    expect(guard.pending).toBeNull();
    expect(go).not.toHaveBeenCalled();

    guard.attempt(go);
    guard.confirm();
    expect(go).toHaveBeenCalledTimes(1);
    expect(guard.pending).toBeNull();

    dirty = false;
    expect(guard.attempt(go)).toBe(true);
    expect(go).toHaveBeenCalledTimes(2);
  });

  it('forgets the check once its screen removes it, not another screen’s', () => {
    const guard = new LeaveGuard();
    const removeA = guard.set(() => 'a');
    const removeB = guard.set(() => 'b');
    removeA();
    const go = vi.fn();
    guard.attempt(go);
    expect(guard.pending?.message).toBe('b');
    guard.cancel();
    removeB();
    expect(guard.attempt(go)).toBe(true);
  });
});
