import type { ErrorCode } from '../../core/errors.js';
import { AppError } from '../../core/errors.js';

/** Where in a message a problem is: segment name, its 1-based position, field number. */
export interface FieldRef {
  segment: string;
  sequence?: number;
  field?: number;
}

/**
 * A message that parsed but cannot be applied (unknown patient, missing start…): it goes to the error
 * queue with this code and position. The message text is PHI-free (it is the code's title and the field).
 */
export class Hl7ApplyError extends AppError {
  readonly hl7Code: string;
  readonly where: FieldRef;
  constructor(code: ErrorCode, hl7Code: string, where: FieldRef) {
    super(code, `${where.segment}${where.field ? `-${where.field}` : ''}`);
    this.hl7Code = hl7Code;
    this.where = where;
  }
}

export const missing = (segment: string, field: number, sequence?: number) =>
  new Hl7ApplyError('SP_HL7_MISSING_FIELD', '101', { segment, field, sequence });
export const invalid = (segment: string, field: number, sequence?: number) =>
  new Hl7ApplyError('SP_HL7_INVALID_FIELD', '102', { segment, field, sequence });
