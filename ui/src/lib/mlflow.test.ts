import { describe, expect, it } from 'vitest';

import { connectInput, connectProblem, importSummary, mlflowOrigin, modelUri, uriProblem } from './mlflow';

describe('MLflow model URIs', () => {
  it('are written as MLflow writes them', () => {
    expect(modelUri('churn', { version: '7' })).toBe('models:/churn/7');
    expect(modelUri('churn', { alias: 'champion' })).toBe('models:/churn@champion');
  });

  it('are checked as typed, with what to fix', () => {
    for (const ok of ['models:/churn/7', 'models:/churn@champion', ' models:/My Model@prod ']) expect(uriProblem(ok)).toBeNull();
    expect(uriProblem('')).toBe('Enter a model URI');
    expect(uriProblem('churn/7')).toMatch(/starts with models:\//);
    expect(uriProblem('models:/churn')).toMatch(/VERSION or @ALIAS/);
    expect(uriProblem('models:/churn/latest')).toMatch(/is a number/);
    expect(uriProblem('models:/churn@')).toMatch(/alias after/);
    expect(uriProblem('models:/@prod')).toMatch(/before the @/);
    expect(uriProblem('models:/a/b/3')).toMatch(/before the \//);
  });
});

describe('provenance', () => {
  it('names the MLflow model, version, alias and run', () => {
    const details = { 'mlflow.model': 'churn', 'mlflow.version': '7', 'mlflow.alias': 'champion', 'mlflow.run_id': '9c450250ac7a4365' };
    expect(mlflowOrigin(details)).toBe('MLflow churn 7 @champion · run 9c450250');
    expect(mlflowOrigin({ 'mlflow.model': 'churn', 'mlflow.version': '2' })).toBe('MLflow churn 2');
  });

  it('is null for a version that did not come from MLflow', () => {
    expect(mlflowOrigin(undefined)).toBeNull();
    expect(mlflowOrigin({ commit: 'abc' })).toBeNull();
  });
});

describe('an import', () => {
  it('says whether it added a version or named the one imported before', () => {
    expect(importSummary('models:/churn/7', { created: true, version: { id: 'v4' } })).toBe('Imported models:/churn/7 as v4');
    expect(importSummary('models:/churn@champion', { created: false, version: { id: 'v4' } })).toBe(
      'models:/churn@champion is already v4 (the same model): nothing imported',
    );
  });
});

describe('the connection form', () => {
  const form = { uri: 'http://mlflow:5000', auth: 'none' as const, token: '', username: '', password: '' };

  it('asks for what is missing', () => {
    expect(connectProblem(form)).toBeNull();
    expect(connectProblem({ ...form, uri: ' ' })).toMatch(/Enter the tracking server URL/);
    expect(connectProblem({ ...form, uri: 'mlflow:5000' })).toMatch(/http/);
    expect(connectProblem({ ...form, uri: 'not a url' })).toMatch(/not valid/);
    expect(connectProblem({ ...form, auth: 'token' })).toBe('Enter the token');
    expect(connectProblem({ ...form, auth: 'basic', password: 'x' })).toBe('Enter the user name');
  });

  it('sends only the chosen sign-in', () => {
    const all = { ...form, token: 't', username: 'ana', password: 'pw' };
    expect(connectInput({ ...all, auth: 'none' })).toEqual({ uri: 'http://mlflow:5000', auth: 'none' });
    expect(connectInput({ ...all, auth: 'token' })).toEqual({ uri: 'http://mlflow:5000', auth: 'token', token: 't' });
    expect(connectInput({ ...all, auth: 'basic' })).toEqual({ uri: 'http://mlflow:5000', auth: 'basic', username: 'ana', password: 'pw' });
  });
});
