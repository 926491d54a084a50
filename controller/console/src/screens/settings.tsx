import type { JSX } from 'preact';
import type { User } from '../api';
import { ScreenHeading } from '../components/screen-heading';
import { Link } from '../router';
import { ClientCertLoginPanel, IpAllowListPanel } from './settings-access';
import { MailSettingsPanel } from './settings-mail';
import { UsersPanel } from './settings-users';

/**
 * W11 settings (SPEC W11, U1, U2, U4, N1): own password, administrator e-mail + SMTP + test mail, users, IP
 * allow-list, client-certificate login. Everything but the own password is admin only; the controller refuses the
 * routes to a User anyway (`settings:manage`, `users:manage`), the screen only says so first.
 */
export function SettingsScreen({ user }: { user: User }): JSX.Element {
  const password = (
    <section class="panel" aria-labelledby="settings-password">
      <h2 id="settings-password">Your password</h2>
      <p>
        Signed in as <strong>{user.username}</strong> ({user.role}). Changing the password ends every session of this
        account, this one included.
      </p>
      <Link href="/change-password" class="button-link">
        Change your password
      </Link>
    </section>
  );
  if (user.role !== 'admin') {
    return (
      <>
        <ScreenHeading wid="W11">Settings</ScreenHeading>
        <div class="panel" id="settings-admin-only">
          <h2>Admins only</h2>
          <p>
            The mail settings, users, IP allow-list and client-certificate login can only be viewed and changed by an
            administrator. Ask an admin of this controller if something needs to change.
          </p>
        </div>
        {password}
      </>
    );
  }
  return (
    <>
      <ScreenHeading wid="W11">Settings</ScreenHeading>
      {password}
      <MailSettingsPanel />
      <UsersPanel me={user.username} />
      <IpAllowListPanel />
      <ClientCertLoginPanel />
      <section class="panel" aria-labelledby="settings-audit">
        <h2 id="settings-audit">Audit log</h2>
        <p>Every change made through the console, the API and the CLI, hash-chained so tampering shows.</p>
        <Link href="/settings/audit" class="button-link">
          Open the audit log
        </Link>
      </section>
    </>
  );
}
