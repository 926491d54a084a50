/**
 * A minimal client-side router over the History API: the current path and query as state, `navigate()` to move,
 * and `<Link>` for in-app anchors (ordinary `<a href>`s, so middle-click and "open in new tab" keep working).
 */
import { h, type AnchorHTMLAttributes, type ComponentChildren, type JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';

const EVENT = 'certfleet:navigate';

export interface Location {
  path: string;
  query: URLSearchParams;
}

/** The location now (for handlers that run after their render). */
export function currentLocation(): Location {
  return {
    path: window.location.pathname.replace(/\/+$/, '') || '/',
    query: new URLSearchParams(window.location.search),
  };
}

let focusRequested = false;

/** True once after a navigation that should move focus to the new screen's heading. */
export function takeFocusRequest(): boolean {
  const f = focusRequested;
  focusRequested = false;
  return f;
}

/**
 * Moves to `to` (path and optional query). `replace` keeps the history length. `focus` (default: not for
 * replacements, which filters use while the operator types) moves focus to the screen heading afterwards.
 */
export function navigate(to: string, options: { replace?: boolean; focus?: boolean } = {}): void {
  const focus = options.focus ?? !options.replace;
  if (to === window.location.pathname + window.location.search) {
    // Already there: still move focus to the screen heading, as after any navigation.
    if (focus) document.querySelector<HTMLElement>('main h1')?.focus();
    return;
  }
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  focusRequested = focus;
  window.dispatchEvent(new Event(EVENT));
}

export function useLocation(): Location {
  const [loc, setLoc] = useState(currentLocation);
  useEffect(() => {
    const update = (): void => setLoc(currentLocation());
    const back = (): void => {
      focusRequested = true;
      update();
    };
    window.addEventListener('popstate', back);
    window.addEventListener(EVENT, update);
    return () => {
      window.removeEventListener('popstate', back);
      window.removeEventListener(EVENT, update);
    };
  }, []);
  return loc;
}

type LinkProps = Omit<AnchorHTMLAttributes<HTMLAnchorElement>, 'href'> & { href: string; children?: ComponentChildren };

export function Link({ href, children, ...rest }: LinkProps): JSX.Element {
  const onClick = (e: MouseEvent): void => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(href);
  };
  return h('a', { ...rest, href, onClick }, children);
}
