// Leaving a screen with unsaved edits asks first. The screen with edits sets what to ask
// (null: nothing to lose); navigation goes through `attempt`, which runs at once or waits
// for the window's confirmation dialog (App.svelte shows `pending`).

export interface PendingLeave {
  /** What would be lost, in words. */
  message: string;
  go: () => void;
}

export class LeaveGuard {
  #check: (() => string | null) | null = null;
  /** A navigation waiting for the user's answer. */
  pending = $state<PendingLeave | null>(null);

  /** Sets what to ask before leaving; returns the function that removes it again. */
  set(check: () => string | null): () => void {
    this.#check = check;
    return () => {
      if (this.#check === check) this.#check = null;
    };
  }

  /** Runs `go` now when nothing would be lost; else asks first. Whether it ran. */
  attempt(go: () => void): boolean {
    const message = this.#check?.() ?? null;
    if (message === null) {
      this.pending = null;
      go();
      return true;
    }
    this.pending = { message, go };
    return false;
  }

  /** The user chose to discard: the navigation runs. */
  confirm(): void {
    const pending = this.pending;
    this.pending = null;
    pending?.go();
  }

  /** The user chose to stay. */
  cancel(): void {
    this.pending = null;
  }
}
