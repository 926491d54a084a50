import type { JSX } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';

/**
 * A search box for a server-side filtered list (issue 6): reports the trimmed text 300 ms after the last keystroke,
 * or at once on Enter. The list itself asks the server (`q=`) — nothing is filtered in the browser.
 */
export function SearchField(props: {
  id: string;
  label: string;
  placeholder?: string;
  value: string;
  onSearch: (q: string) => void;
}): JSX.Element {
  const [text, setText] = useState(props.value);
  const timer = useRef<number | undefined>(undefined);
  useEffect(() => () => window.clearTimeout(timer.current), []);
  const report = (value: string): void => {
    window.clearTimeout(timer.current);
    props.onSearch(value.trim());
  };
  return (
    <div class="field">
      <label for={props.id}>{props.label}</label>
      <input
        id={props.id}
        type="search"
        placeholder={props.placeholder}
        value={text}
        onInput={(e) => {
          const value = e.currentTarget.value;
          setText(value);
          window.clearTimeout(timer.current);
          timer.current = window.setTimeout(() => report(value), 300);
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter') {
            e.preventDefault();
            report(e.currentTarget.value);
          }
        }}
      />
    </div>
  );
}
