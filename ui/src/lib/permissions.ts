// What the console's principal may do, from its capabilities (`capabilities`): the console
// disables a control the principal cannot use and says why on hover. The engine checks again;
// this only keeps people from pressing buttons that would be refused.

import { configSummary } from './format';
import type { ApprovalRequest, Capabilities, DeployOutcome, DeploymentConfig, Permission } from './types';

/** Why the principal may not use `permission` (on `service` when given), or null when it may. */
export function denied(caps: Capabilities | null, permission: Permission, service: string | null = null): string | null {
  if (!caps) return null;
  const held = service !== null ? (caps.services[service] ?? caps.node) : caps.node;
  if (held.includes(permission)) return null;
  const roles = caps.roles.length ? caps.roles.map(grantText).join(', ') : 'no role';
  const on = service !== null ? ` on ${service}` : '';
  return `${caps.principal} (${roles}) lacks the '${permission}' permission${on}`;
}

/** `deployer` or `deployer:churn_*`, as the CLI writes a grant. */
export function grantText(g: { role: string; scope: string }): string {
  return g.scope === '*' ? g.role : `${g.role}:${g.scope}`;
}

/** Parses `role` or `role:glob`; null when the role is unknown or the glob empty. */
export function parseGrant(text: string): { role: 'viewer' | 'deployer' | 'operator' | 'admin'; scope: string } | null {
  const [role, ...rest] = text.trim().split(':');
  const scope = rest.length ? rest.join(':').trim() : '*';
  if (role !== 'viewer' && role !== 'deployer' && role !== 'operator' && role !== 'admin') return null;
  if (!scope) return null;
  return { role, scope };
}

/** The sentence the console shows after a deploy: the revision, or the approval request. */
export function outcomeText(outcome: DeployOutcome): string {
  if (outcome.outcome === 'deployed') return `Deployed: revision #${outcome.revision.number}`;
  const r = outcome.request;
  return `Approval requested: request #${r.id} waits for another operator or admin of ${r.service}`;
}

/** The change a request holds, as a diff of the config serving when asked and the one asked for. */
export function approvalChange(r: Pick<ApprovalRequest, 'kind' | 'base' | 'payload'>): string {
  if (r.kind === 'canary') {
    const version = (r.payload as unknown as { version?: string }).version ?? '?';
    return `canary of ${version} against ${configSummary(r.base as unknown as DeploymentConfig | null)}`;
  }
  return `${configSummary(r.base as unknown as DeploymentConfig | null)} → ${configSummary(r.payload as unknown as DeploymentConfig)}`;
}
