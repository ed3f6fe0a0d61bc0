import { useEffect, useState } from 'react';
import { api, ok } from '../../app/api';

/** Sender id → "application / facility", for showing who sent a message (empty until loaded). */
export function useSenderNames(): Map<string, string> {
  const [names, setNames] = useState(new Map<string, string>());
  useEffect(() => {
    let live = true;
    ok(api.GET('/v1/hl7/senders'))
      .then(
        (r) => live && setNames(new Map(r.items.map((s) => [s.id, s.facility ? `${s.app} / ${s.facility}` : s.app]))),
      )
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);
  return names;
}
