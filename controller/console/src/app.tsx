import type { JSX } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { logout, me, onUnauthorized, sessionKind, type User } from './api';
import { ErrorText } from './components/messages';
import { Link, navigate, takeFocusRequest, useLocation, type Location } from './router';
import { SECTIONS, type Section } from './sections';
import { AgentsScreen } from './screens/agents';
import { CertificatesScreen } from './screens/certificates';
import { ChangePasswordScreen } from './screens/change-password';
import { DefinitionsScreen } from './screens/definitions';
import { LoginScreen } from './screens/login';
import { MonitorRunScreen } from './screens/monitor-run';
import { MonitoringScreen } from './screens/monitoring';
import { PlaceholderScreen } from './screens/placeholder';
import { DefinitionCloneScreen, DefinitionFormScreen } from './screens/definition-form';
import { DefinitionDetailScreen } from './screens/definition-detail';
import { ImportScreen } from './screens/import';
import { PrivateCaScreen } from './screens/private-ca';
import { PrivateKeysScreen } from './screens/private-keys';
import { ProviderAccountsScreen } from './screens/provider-accounts';
import { RequestsScreen } from './screens/requests';
import { SentMailScreen } from './screens/sent-mail';
import { TrustSetsScreen } from './screens/trust-sets';
import { DiscoveryScreen } from './screens/discovery';
import { DiscoveryScanScreen } from './screens/discovery-scan';
import { SettingsScreen } from './screens/settings';
import { AuditLogScreen } from './screens/settings-audit';

const HOME = '/definitions';

/** A same-origin path to return to after login (never another origin). */
function safeNext(loc: Location): string {
  const next = loc.query.get('next') ?? '';
  return next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/login') ? next : HOME;
}

function sectionOf(path: string): Section | undefined {
  return SECTIONS.find((s) => path === s.path || path.startsWith(`${s.path}/`));
}

function titleOf(loc: Location, user: User | null | undefined): string {
  if (!user) return 'Log in';
  if (user.mustChangePassword || loc.path === '/change-password') return 'Change password';
  return sectionOf(loc.path)?.title ?? 'Not found';
}

/** The console: session handling, redirects, the shell (header, navigation, main) and the screen for the path. */
export function App(): JSX.Element {
  const loc = useLocation();
  const [user, setUser] = useState<User | null | undefined>(undefined);
  const [notice, setNotice] = useState<string | null>(null);
  const [startError, setStartError] = useState<unknown>(null);

  useEffect(() => {
    me()
      .then(setUser)
      .catch((err: unknown) => {
        setStartError(err);
        setUser(null);
      });
  }, []);
  useEffect(
    () =>
      onUnauthorized(() => {
        setUser(null);
        setNotice('Your session has ended. Log in again.');
      }),
    []
  );

  // Redirects: no session → /login (remembering where to return); generated password → /change-password.
  useEffect(() => {
    if (user === undefined) return;
    if (user === null) {
      if (loc.path !== '/login') {
        const here = loc.path + (loc.query.toString() ? `?${loc.query.toString()}` : '');
        navigate(here === '/' ? '/login' : `/login?next=${encodeURIComponent(here)}`, { replace: true, focus: true });
      }
    } else if (user.mustChangePassword) {
      if (loc.path !== '/change-password') navigate('/change-password', { replace: true, focus: true });
    } else if (loc.path === '/login' || loc.path === '/') {
      navigate(safeNext(loc), { replace: true, focus: true });
    }
  }, [user, loc]);

  // After every navigation and session change: a title naming the screen, and focus on its heading (announced by
  // screen readers). Filter changes that only replace the query keep the focus where the operator types.
  const sessionState = user === undefined ? 'loading' : user === null ? 'none' : user.mustChangePassword ? 'pw' : 'ok';
  const focusHeading = (): void => document.querySelector<HTMLElement>('main h1')?.focus();
  useEffect(() => {
    document.title = `${titleOf(loc, user)} — CertFleet`;
    if (takeFocusRequest()) focusHeading();
  }, [loc]);
  useEffect(() => {
    if (sessionState !== 'loading') focusHeading();
  }, [sessionState]);

  const doLogout = async (): Promise<void> => {
    try {
      await logout();
    } catch {
      /* the session is gone either way */
    }
    setUser(null);
    setNotice('You have logged out.');
    navigate('/login', { replace: true });
  };

  const passwordChanged = (): void => {
    setUser(null);
    setNotice('Password changed. Log in with your new password.');
    navigate('/login', { replace: true });
  };

  if (user === undefined) {
    return (
      <main id="main" class="auth-page">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (user === null) {
    return (
      <main id="main" class="auth-page">
        <ErrorText error={startError} />
        <LoginScreen
          notice={notice}
          onLoggedIn={(u) => {
            setNotice(null);
            setStartError(null);
            setUser(u);
          }}
        />
      </main>
    );
  }
  if (user.mustChangePassword) {
    return (
      <main id="main" class="auth-page">
        <ChangePasswordScreen user={user} forced onChanged={() => passwordChanged()} onLogout={() => void doLogout()} />
      </main>
    );
  }

  return (
    <>
      <a
        class="skip-link"
        href="#main"
        onClick={(e) => {
          // Focus the main region itself (a fragment jump alone does not move keyboard focus everywhere).
          e.preventDefault();
          document.getElementById('main')?.focus();
        }}
      >
        Skip to main content
      </a>
      <header class="topbar">
        <Link href={HOME} class="brand">
          CertFleet
        </Link>
        <div class="user">
          {sessionKind() === 'bearer' ? (
            <span class="session-note" title="This controller has no cookie sessions yet">
              session in this tab only
            </span>
          ) : null}
          <span>
            {user.username} <span class="role">({user.role})</span>
          </span>
          <Link href="/change-password">Change password</Link>
          <button type="button" onClick={() => void doLogout()}>
            Log out
          </button>
        </div>
      </header>
      <div class="layout">
        <nav aria-label="Main" class="sidenav">
          <ul>
            {SECTIONS.map((s) => {
              const active = sectionOf(loc.path)?.id === s.id;
              return (
                <li key={s.id}>
                  <Link href={s.path} aria-current={active ? 'page' : undefined} class={s.built ? '' : 'unbuilt'}>
                    <span class="wid" aria-hidden="true">
                      {s.id}
                    </span>{' '}
                    {s.title}
                    {s.built ? null : <span class="visually-hidden"> (not built yet)</span>}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <main id="main" tabIndex={-1}>
          <Screen loc={loc} user={user} onPasswordChanged={passwordChanged} onLogout={() => void doLogout()} />
        </main>
      </div>
    </>
  );
}

function Screen(props: {
  loc: Location;
  user: User;
  onPasswordChanged: () => void;
  onLogout: () => void;
}): JSX.Element {
  const { loc } = props;
  if (loc.path === '/change-password') {
    return (
      <ChangePasswordScreen
        user={props.user}
        forced={false}
        onChanged={props.onPasswordChanged}
        onLogout={props.onLogout}
      />
    );
  }
  // Redirected to the screen to return to at once (see the redirect effect).
  if (loc.path === '/' || loc.path === '/login') return <p role="status">Opening…</p>;
  const scan = /^\/discovery\/scans\/([0-9a-f-]{36})$/.exec(loc.path);
  if (scan?.[1]) return <DiscoveryScanScreen id={scan[1]} />;
  const run = /^\/monitoring\/runs\/([0-9a-f-]{36})$/.exec(loc.path);
  if (run?.[1]) return <MonitorRunScreen id={run[1]} />;
  const def = /^\/definitions\/([0-9a-f-]{36})(?:\/(edit|clone))?$/.exec(loc.path);
  if (def?.[1]) {
    if (def[2] === 'edit') return <DefinitionFormScreen mode="edit" id={def[1]} />;
    if (def[2] === 'clone') return <DefinitionCloneScreen id={def[1]} />;
    return <DefinitionDetailScreen id={def[1]} loc={loc} />;
  }
  switch (loc.path) {
    case '/definitions/new':
      return <DefinitionFormScreen mode="new" />;
    case '/definitions/import':
      return <ImportScreen />;
    case '/requests':
      return <RequestsScreen />;
    case '/provider-accounts':
      return <ProviderAccountsScreen />;
    case '/private-keys':
      return <PrivateKeysScreen user={props.user} />;
    case '/sent-mail':
      return <SentMailScreen />;
    case '/trust-sets':
      return <TrustSetsScreen user={props.user} />;
    case '/ca':
      return <PrivateCaScreen user={props.user} />;
    case '/definitions':
      return <DefinitionsScreen loc={loc} />;
    case '/certificates':
      return <CertificatesScreen />;
    case '/monitoring':
      return <MonitoringScreen user={props.user} />;
    case '/discovery':
      return <DiscoveryScreen />;
    case '/settings':
      return <SettingsScreen user={props.user} />;
    case '/settings/audit':
      return <AuditLogScreen user={props.user} />;
    case '/agents':
      return <AgentsScreen />;
  }
  const section = sectionOf(loc.path);
  if (section && !section.built && loc.path === section.path) return <PlaceholderScreen section={section} />;
  return (
    <>
      <h1 tabIndex={-1}>Page not found</h1>
      <p>
        There is no console page at <code>{loc.path}</code>. <Link href={HOME}>Go to the definitions</Link>.
      </p>
    </>
  );
}
