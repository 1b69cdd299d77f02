import { describe, expect, it } from 'vitest';

import { approvalChange, denied, grantText, outcomeText, parseGrant } from './permissions';
import type { Capabilities, DeployOutcome } from './types';

const caps: Capabilities = {
  principal: 'dee',
  roles: [
    { role: 'viewer', scope: '*' },
    { role: 'deployer', scope: 'churn_*' },
  ],
  node: ['read'],
  services: { churn_eu: ['read', 'deploy'], iris: ['read'] },
};

describe('denied', () => {
  it('allows what the service grants, and names the permission otherwise', () => {
    expect(denied(caps, 'deploy', 'churn_eu')).toBeNull();
    expect(denied(caps, 'deploy', 'iris')).toBe("dee (viewer, deployer:churn_*) lacks the 'deploy' permission on iris");
    expect(denied(caps, 'read', 'iris')).toBeNull();
  });
  it('falls back to the node-wide permissions for unlisted services and node actions', () => {
    expect(denied(caps, 'read', 'new_service')).toBeNull();
    expect(denied(caps, 'manage', 'new_service')).toContain("'manage'");
    expect(denied(caps, 'users')).toBe("dee (viewer, deployer:churn_*) lacks the 'users' permission");
  });
  it('allows everything while the capabilities are unknown (the engine still checks)', () => {
    expect(denied(null, 'users')).toBeNull();
  });
});

describe('grants', () => {
  it('reads and writes role:scope', () => {
    expect(parseGrant('deployer:churn_*')).toEqual({ role: 'deployer', scope: 'churn_*' });
    expect(parseGrant(' viewer ')).toEqual({ role: 'viewer', scope: '*' });
    expect(parseGrant('root')).toBeNull();
    expect(parseGrant('viewer:')).toBeNull();
    expect(grantText({ role: 'admin', scope: '*' })).toBe('admin');
    expect(grantText({ role: 'deployer', scope: 'churn_*' })).toBe('deployer:churn_*');
  });
});

describe('outcomeText', () => {
  it('names the revision or the approval request', () => {
    const requested = {
      outcome: 'approval_requested',
      request: { id: 4, service: 'iris' },
    } as unknown as DeployOutcome;
    expect(outcomeText(requested)).toBe('Approval requested: request #4 waits for another operator or admin of iris');
    const deployed = { outcome: 'deployed', revision: { number: 7 } } as unknown as DeployOutcome;
    expect(outcomeText(deployed)).toBe('Deployed: revision #7');
  });
});

describe('approvalChange', () => {
  it('diffs the serving config against the requested one', () => {
    const base = { mode: 'single', generation: 'v1', sticky: false };
    const payload = { mode: 'single', generation: 'v2', sticky: false };
    const text = approvalChange({ kind: 'deploy', base, payload } as never);
    expect(text).toContain('v1');
    expect(text).toContain('v2');
    expect(text.indexOf('v1')).toBeLessThan(text.indexOf('v2'));
    expect(approvalChange({ kind: 'canary', base, payload: { version: 'v3' } } as never)).toContain('canary of v3');
  });
});
