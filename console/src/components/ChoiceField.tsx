import { words } from '../format';

/** A labelled select over a closed list of values (a filter offers "any" as the empty value). */
export function ChoiceField({
  label,
  name,
  value,
  choices,
  onChange,
  any = false,
  show = words,
}: {
  label: string;
  name: string;
  value: string;
  choices: readonly string[];
  onChange(event: { target: { value: string } }): void;
  any?: boolean;
  /** How a value reads in the list (default: its words). */
  show?: (choice: string) => string;
}) {
  return (
    <label className="field">
      {label}
      <select name={name} value={value} onChange={onChange}>
        {any ? <option value="">any</option> : null}
        {choices.map((choice) => (
          <option key={choice} value={choice}>
            {show(choice)}
          </option>
        ))}
      </select>
    </label>
  );
}

/** For values that read best as the API writes them (policy ids' parts, audit action names). */
export const asWritten = (choice: string) => choice;
