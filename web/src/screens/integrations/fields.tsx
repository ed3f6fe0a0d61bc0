/** A labelled input (or text area) with an optional hint: plain HTML, label and describedby wired. */
export function Input({
  id,
  label,
  value,
  onChange,
  hint,
  required,
  multiline,
  type = 'text',
}: {
  id: string;
  label: string;
  value: string;
  onChange: (v: string) => void;
  hint?: string;
  required?: boolean;
  multiline?: boolean;
  type?: string;
}) {
  const props = {
    id,
    value,
    required,
    spellCheck: false,
    autoComplete: 'off',
    'aria-describedby': hint ? `${id}-hint` : undefined,
  };
  return (
    <div className="sp-field">
      <label htmlFor={id}>{label}</label>
      {multiline ? (
        <textarea {...props} onChange={(e) => onChange(e.target.value)} />
      ) : (
        <input {...props} type={type} onChange={(e) => onChange(e.target.value)} />
      )}
      {hint && (
        <small id={`${id}-hint`} className="sp-intro">
          {hint}
        </small>
      )}
    </div>
  );
}
