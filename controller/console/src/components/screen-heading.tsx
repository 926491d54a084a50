import type { ComponentChildren, JSX } from 'preact';

/**
 * The screen's <h1>. It can take focus (tabindex -1) so the app moves focus here after every navigation, and
 * screen-reader users hear where they arrived.
 */
export function ScreenHeading({ children, wid }: { children?: ComponentChildren; wid?: string }): JSX.Element {
  return (
    <h1 tabIndex={-1} class="screen-heading">
      {children}
      {wid ? <span class="wid"> ({wid})</span> : null}
    </h1>
  );
}
