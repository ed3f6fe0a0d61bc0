import { useTranslation } from 'react-i18next';
import { STAFF_ROLES } from './people-api';

/** The staff roles as a group of checkboxes (at least one is needed; the API says so if none is). */
export function RolePicker({
  value,
  onChange,
  legend,
}: {
  value: string[];
  onChange: (roles: string[]) => void;
  legend: string;
}) {
  const { t } = useTranslation();
  return (
    <fieldset className="sp-people-roles">
      <legend>{legend}</legend>
      {STAFF_ROLES.map((r) => (
        <label key={r} className="sp-people-check">
          <input
            type="checkbox"
            checked={value.includes(r)}
            onChange={(e) => onChange(e.target.checked ? [...value, r] : value.filter((x) => x !== r))}
          />
          <span>{t(`people.roles.${r}`)}</span>
        </label>
      ))}
    </fieldset>
  );
}

/** A user's status as a badge (the word is always there; colour only adds to it). */
export function StatusBadge({ status }: { status: string }) {
  const { t } = useTranslation();
  const tone = status === 'active' ? 'ok' : status === 'invited' ? 'neutral' : status === 'locked' ? 'warn' : 'bad';
  return <span className={`sp-badge sp-${tone}`}>{t(`people.status.${status}`)}</span>;
}
