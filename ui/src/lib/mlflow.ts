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
