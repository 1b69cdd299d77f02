import { describe, expect, it } from 'vitest';

import { serviceNameProblem } from './names';

describe('service names as typed', () => {
  it('accept what the engine accepts', () => {
    for (const ok of ['', 'iris', 'iris_classifier', 'churn-v2', 'a'.repeat(64)]) expect(serviceNameProblem(ok)).toBeNull();
  });
  it('say what is wrong with the rest', () => {
    expect(serviceNameProblem('Iris')).toBe('Start with a lowercase letter');
    expect(serviceNameProblem('1iris')).toBe('Start with a lowercase letter');
    expect(serviceNameProblem('iris classifier')).toBe('No spaces: use _ or -');
    expect(serviceNameProblem('irisClassifier')).toBe("'C' is not allowed: use lowercase letters, digits, _ or -");
    expect(serviceNameProblem('a'.repeat(65))).toBe('At most 64 characters (65 now)');
  });
});
