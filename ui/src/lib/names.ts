// Names as the engine accepts them, checked as they are typed. The rule is the engine's own:
// the pattern and length of the ServiceName schema in its OpenAPI document (generated).

import doc from './generated/openapi.json';

const schema = doc.components.schemas.ServiceName;
const SERVICE_NAME = new RegExp(schema.pattern);

/** Why `name` is not a valid service name, or null when it is (or nothing is typed yet). */
export function serviceNameProblem(name: string): string | null {
  if (name === '' || SERVICE_NAME.test(name)) return null;
  if (name.length > schema.maxLength) return `At most ${schema.maxLength} characters (${name.length} now)`;
  if (!/^[a-z]/.test(name)) return 'Start with a lowercase letter';
  const bad = [...name].find((c) => !/[a-z0-9_-]/.test(c));
  return bad === ' ' ? 'No spaces: use _ or -' : `'${bad}' is not allowed: use lowercase letters, digits, _ or -`;
}
