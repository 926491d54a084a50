import type { ComponentChildren, JSX } from 'preact';

/**
 * A list screen's table: `<div class="table-wrap"><table class="data">` with a caption and one `<th scope="col">`
 * per column name; the rows (`<tr>…</tr>`) are the children.
 */
export function DataTable(props: {
  id?: string;
  caption: ComponentChildren;
  columns: readonly string[];
  children?: ComponentChildren;
}): JSX.Element {
  return (
    <div class="table-wrap">
      <table class="data" id={props.id}>
        <caption>{props.caption}</caption>
        <thead>
          <tr>
            {props.columns.map((c) => (
              <th scope="col" key={c}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}
