import { useId } from 'react';

/** A labelled native text input (no react-aria: nothing that inserts styles under the console's policy). */
export function TextInput({
  label,
  value,
  onChange,
  required,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  required?: boolean;
}) {
  const id = useId();
  return (
    <div className="sp-field sp-patients-input">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        type="text"
        value={value}
        required={required}
        autoComplete="off"
        spellCheck={false}
        onChange={(e) => onChange(e.target.value)}
      />
    </div>
  );
}
