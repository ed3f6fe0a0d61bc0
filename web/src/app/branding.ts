import { useEffect, useState } from 'react';
import { raw } from './api';

export interface Branding {
  organisationName: string;
  accentColor: string;
  hasLogo: boolean;
  /** The logo's hash prefix: its address changes with the logo, so caches never show an old one. */
  logoHash?: string | null;
}

const DEFAULT: Branding = { organisationName: 'Sealpost', accentColor: '#0b5cad', hasLogo: false };
let cached: Promise<Branding> | undefined;

/** The organisation's name, accent and whether it has a logo (GET /v1/branding, public, PHI-free). */
export function loadBranding(refresh = false): Promise<Branding> {
  if (refresh || !cached)
    cached = raw('GET', '/v1/branding')
      .then((b) => ({ ...DEFAULT, ...b }))
      .catch(() => DEFAULT);
  return cached;
}

export function useBranding(): Branding {
  const [b, setB] = useState<Branding>(DEFAULT);
  useEffect(() => {
    let live = true;
    void loadBranding().then((x) => live && setB(x));
    return () => {
      live = false;
    };
  }, []);
  return b;
}
