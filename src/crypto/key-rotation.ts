// Temporary: key rotation moved to core/key-rotation.ts; this re-export stays until the CLI and the
// composition root import it there.
export {
  keyUsage,
  retireKey,
  rotateBlindIndexKey,
  rotateSigningKey,
  rotateTenantKek,
  type RotationOptions,
  type RotationProgress,
  type RotationResult,
} from '../core/key-rotation.js';
