// MLflow in the console: model URIs as MLflow writes them, where a version came from, and
// what an import did. Pure functions; the component calls the engine through api.ts.

/** Provenance details recorded by an MLflow import (engine: `Fetched::provenance`). */
export type Details = Record<string, string> | undefined;

/** `models:/NAME/VERSION` for a version, `models:/NAME@ALIAS` for an alias. */
export function modelUri(model: string, ref: { version: string } | { alias: string }): string {
  return 'version' in ref ? `models:/${model}/${ref.version}` : `models:/${model}@${ref.alias}`;
}

/** Why `text` is not an MLflow model URI, or null when it is one. The engine checks again. */
export function uriProblem(text: string): string | null {
  const t = text.trim();
  if (!t) return 'Enter a model URI';
  if (!t.startsWith('models:/')) return 'A model URI starts with models:/ (models:/NAME/VERSION or models:/NAME@ALIAS)';
  const rest = t.slice('models:/'.length);
  const at = rest.lastIndexOf('@');
  if (at >= 0) {
    const [model, alias] = [rest.slice(0, at), rest.slice(at + 1)];
    if (!model || model.includes('/')) return 'Name the registered model before the @';
    if (!alias || alias.includes('/')) return 'Name an alias after the @';
    return null;
  }
  const slash = rest.lastIndexOf('/');
  if (slash < 0) return 'Add /VERSION or @ALIAS after the model name';
  const [model, version] = [rest.slice(0, slash), rest.slice(slash + 1)];
  if (!model || model.includes('/')) return 'Name the registered model before the /';
  if (!/^\d+$/.test(version)) return 'The version after the / is a number (or use @ALIAS)';
  return null;
}

/** "MLflow churn 7 @champion · run 9c450250" for a version imported from MLflow, else null. */
export function mlflowOrigin(details: Details): string | null {
  const model = details?.['mlflow.model'];
  if (!model) return null;
  const version = details?.['mlflow.version'];
  const alias = details?.['mlflow.alias'];
  const run = details?.['mlflow.run_id'];
  return [`MLflow ${model}${version ? ` ${version}` : ''}${alias ? ` @${alias}` : ''}`, run ? `run ${run.slice(0, 8)}` : null]
    .filter(Boolean)
    .join(' · ');
}

/** What an import did, in a sentence. */
export function importSummary(uri: string, result: { created: boolean; version: { id: string } }): string {
  return result.created
    ? `Imported ${uri} as ${result.version.id}`
    : `${uri} is already ${result.version.id} (the same model): nothing imported`;
}

/** The Settings → MLflow form. */
export interface ConnectForm {
  uri: string;
  auth: 'none' | 'token' | 'basic';
  token: string;
  username: string;
  password: string;
}

/** What is wrong with the form, or null when it can be sent. The engine checks again. */
export function connectProblem(form: ConnectForm): string | null {
  const uri = form.uri.trim();
  if (!uri) return 'Enter the tracking server URL, e.g. http://mlflow.internal:5000';
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return 'The URL is not valid: write http://HOST:PORT';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return 'Use an http:// or https:// URL';
  if (form.auth === 'token' && !form.token.trim()) return 'Enter the token';
  if (form.auth === 'basic' && !form.username.trim()) return 'Enter the user name';
  return null;
}

/** The form as the engine takes it: only the credentials of the chosen sign-in. */
export function connectInput(form: ConnectForm): { uri: string; auth: ConnectForm['auth']; token?: string; username?: string; password?: string } {
  const base = { uri: form.uri.trim(), auth: form.auth };
  if (form.auth === 'token') return { ...base, token: form.token.trim() };
  if (form.auth === 'basic') return { ...base, username: form.username.trim(), password: form.password };
  return base;
}
